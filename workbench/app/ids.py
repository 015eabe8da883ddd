"""Every component id of the app, in one place.

Ids are grouped by screen area. Callbacks import them from here, and the
browser tests select elements by them (``#design-canvas``), so renaming one
is a change to the app's public surface.
"""

from __future__ import annotations

# ----------------------------------------------------------------- page
SESSION = "session-id"  # dcc.Store holding this tab's session uuid (kept in sessionStorage across reloads)
PAGE = "page-id"  # dcc.Store: a uuid new on every page load
URL = "url"  # dcc.Location: a share link's fragment
VIEW = "view"  # which screen shows: "workbench", "inspect" or "ticket"
STATUS = "status-pill"
COUNT_DESIGN = "count-design"  # "30 vertices · 60 edges · depth 7"
COUNT_MODEL = "count-model"  # "34 neurons · 84 of 84 connections · 236 parameters"
NOTICE = "page-notice"  # a message for the whole page (a dropped session, a link opened)
DESIGN_VERSION = "design-version"  # dcc.Store: bumped on every change of the design
MODEL_VERSION = "model-version"  # dcc.Store: bumped when the model or its masks change
MASKS = "mask-codes"  # dcc.Store: {"key", "codes", "dead"} the canvas is restyled from
MASKS_APPLIED = "mask-codes-applied"  # dcc.Store: how many edges the browser restyled last
SELECTED = "selected-vertex"  # dcc.Store: the Cytoscape id of the tapped vertex (ringed in every view)
SELECTED_MARKED = "selected-vertex-marked"  # dcc.Store: in how many views the browser ringed it
DOWNLOAD = "download"
SHARE = "share"
SHARE_BOX = "share-box"
SHARE_LINK = "share-link"
SAVE_SESSION = "save-session"

# ----------------------------------------------------------------- design sidebar and canvas
CANVAS = "design-canvas"
CANVAS_KEY = "design-canvas-key"  # dcc.Store: what the canvas's elements were drawn from
OVERVIEW = "design-overview"  # server-drawn PNG of a large design, shown instead of the canvas
OVERVIEW_BOX = "design-overview-box"
OVERVIEW_TEXT = "design-overview-text"
OPEN_CANVAS = "design-open-canvas"
DESIGN_ALERT = "design-alert"
DESIGN_HINT = "design-hint"
VERTEX_CARD = "design-vertex"  # details of the tapped vertex, over the canvas
ADD_VERTEX = "design-add-vertex"
DELETE = "design-delete"
UNDO = "design-undo"
REDO = "design-redo"
FIT = "design-fit"
CLEAR = "design-clear"
CANCEL = "design-cancel"
EXPORT_PNG = "design-export-png"
EXPORT_SVG = "design-export-svg"
GENERATOR = "design-generator"
GEN_PARAMS = "design-generator-params"
GEN_PARAM = "design-generator-param"  # dict id {"type": GEN_PARAM, "name": ...}
GEN_SEED = "design-seed"
GENERATE = "design-generate"
SAMPLE = "design-sample"
LOAD_SAMPLE = "design-load-sample"
UPLOAD = "design-upload"  # graph files, checkpoints and session files

# ----------------------------------------------------------------- training bar and curves
DATASET = "train-dataset"
DATASET_CONFIRM = "train-dataset-confirm"  # asks before a data set change throws a trained model away
ACTIVATION = "train-activation"
INIT_SEED = "train-init-seed"
OPTIMIZER = "train-optimizer"
LR = "train-lr"
BATCH = "train-batch"
EPOCHS = "train-epochs"
DEVICE = "train-device"
BUILD = "train-build"
START = "train-start"
PAUSE = "train-pause"
STOP = "train-stop"
RESET = "train-reset"
TRAIN_ALERT = "train-alert"
RUN_LINE = "train-run-line"  # "epoch 12 · loss 0.31 · test 89%"
POLL = "train-poll"
SEEN = "train-seen"  # dcc.Store: history records already drawn
CURVES_FIG = "train-curves"
DETAIL_TABS = "detail-tabs"
BOUNDARY_FIG = "train-boundary"

# ----------------------------------------------------------------- pruning card
PRUNE_MODE = "prune-mode"
PRUNE_SCOPE = "prune-scope"
PRUNE_SLIDER = "prune-slider"
PRUNE_VALUE = "prune-value"
PRUNE_APPLY = "prune-apply"
PRUNE_FINETUNE = "prune-finetune"
PRUNE_FT_EPOCHS = "prune-finetune-epochs"
PRUNE_RESET = "prune-reset"
PRUNE_ALERT = "prune-alert"
PRUNE_SUMMARY = "prune-summary"
DENSITY_FIG = "prune-density"
HIST_FIG = "prune-histogram"

# ----------------------------------------------------------------- inspect screen
GRANULARITY = "inspect-granularity"
INSPECT_MODEL = "inspect-model"  # which model the Inspect screen shows: the session's, or a conv sample
SHOW_IO = "inspect-show-io"
INSPECT_REFRESH = "inspect-refresh"
DESIGN_VIEW = "inspect-design"
EXTRACTED_VIEW = "inspect-extracted"
INSPECT_COUNTS = "inspect-counts"
INSPECT_VERTEX = "inspect-vertex"
INSPECT_ALERT = "inspect-alert"
INSPECT_SOURCE = "inspect-source"
DL_DESIGN_GRAPHML = "dl-design-graphml"
DL_DESIGN_JSON = "dl-design-json"
DL_EXTRACTED_GRAPHML = "dl-extracted-graphml"
DL_EXTRACTED_JSON = "dl-extracted-json"
DL_CHECKPOINT = "dl-checkpoint"
EXPORT_INSPECT_PNG = "inspect-export-png"
EXPORT_INSPECT_SVG = "inspect-export-svg"

# ----------------------------------------------------------------- ticket screen
TICKET_ROUNDS = "ticket-rounds"
TICKET_RATE = "ticket-rate"  # percent of remaining weights pruned per round
TICKET_OUTPUT_RATE = "ticket-output-rate"  # percent for the output layer
TICKET_SCOPE = "ticket-scope"
TICKET_REWIND = "ticket-rewind"
TICKET_ITERATIONS = "ticket-iterations"
TICKET_CONTROLS = "ticket-controls"
TICKET_SEED = "ticket-seed"
TICKET_START = "ticket-start"
TICKET_STOP = "ticket-stop"
TICKET_ALERT = "ticket-alert"
TICKET_PROGRESS = "ticket-progress"
TICKET_POLL = "ticket-poll"
TICKET_ACC_FIG = "ticket-accuracy"
TICKET_DENSITY_FIG = "ticket-density"
TICKET_FOLLOW = "ticket-follow"  # checklist: load each new ticket round into the model
TICKET_ROUND = "ticket-round"  # dropdown of finished rounds
TICKET_LOAD = "ticket-load"
TICKET_SWEEP = "ticket-sweep"  # dropdown of the sweep folders the server can open
TICKET_SWEEP_METRIC = "ticket-sweep-metric"
TICKET_SWEEP_OPEN = "ticket-sweep-open"
TICKET_SWEEP_FIG = "ticket-sweep-figure"
TICKET_SWEEP_BOX = "ticket-sweep-box"
TICKET_SWEEP_INFO = "ticket-sweep-info"
