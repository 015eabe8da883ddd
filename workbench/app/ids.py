"""Every component id of the app, in one place.

Ids are grouped by panel. Callbacks import them from here, and the browser
tests select elements by them (``#design-canvas``), so renaming one is a
change to the app's public surface.
"""

from __future__ import annotations

# ----------------------------------------------------------------- page
SESSION = "session-id"  # dcc.Store holding this tab's session uuid (kept in sessionStorage across reloads)
PAGE = "page-id"  # dcc.Store: a uuid new on every page load
TABS = "tabs"
STATUS = "status-pill"
COUNT_VERTICES = "count-vertices"
COUNT_EDGES = "count-edges"
COUNT_DEPTH = "count-depth"
COUNT_PARAMS = "count-params"
DESIGN_VERSION = "design-version"  # dcc.Store: bumped on every change of the drawn graph
MODEL_VERSION = "model-version"  # dcc.Store: bumped when the model or its masks change
KEYS = "keys-listener"  # hidden buttons the client-side key handler clicks

# ----------------------------------------------------------------- design
CANVAS = "design-canvas"
OVERVIEW = "design-overview"  # server-drawn PNG of a large design, shown before the canvas
OVERVIEW_BOX = "design-overview-box"
OPEN_CANVAS = "design-open-canvas"
DESIGN_ALERT = "design-alert"
DESIGN_HINT = "design-hint"
PENDING = "design-pending"  # dcc.Store: id of the vertex a connection starts from
ADD_VERTEX = "design-add-vertex"
DELETE = "design-delete"
UNDO = "design-undo"
REDO = "design-redo"
RELAYOUT = "design-relayout"
FIT = "design-fit"
CLEAR = "design-clear"
CANCEL = "design-cancel"
GENERATOR = "design-generator"
GEN_PARAMS = "design-generator-params"
GEN_PARAM = "design-generator-param"  # dict id {"type": GEN_PARAM, "name": ...}
GEN_SEED = "design-seed"
GENERATE = "design-generate"
SAMPLE = "design-sample"
LOAD_SAMPLE = "design-load-sample"

# ----------------------------------------------------------------- build & train
DATASET = "train-dataset"
DATASET_INFO = "train-dataset-info"
MODEL_KIND = "train-model-kind"
FFN_SIZES = "train-ffn-sizes"
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
MODEL_INFO = "train-model-info"
POLL = "train-poll"
SEEN = "train-seen"  # dcc.Store: history records already drawn
LOSS_FIG = "train-loss"
ACC_FIG = "train-accuracy"
BOUNDARY_FIG = "train-boundary"
BOUNDARY_BOX = "train-boundary-box"

# ----------------------------------------------------------------- prune
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

# ----------------------------------------------------------------- inspect
GRANULARITY = "inspect-granularity"
INSPECT_MODEL = "inspect-model"  # which model the Inspect panel shows: the session's, or a conv sample
SHOW_IO = "inspect-show-io"
INSPECT_REFRESH = "inspect-refresh"
DESIGN_VIEW = "inspect-design"
EXTRACTED_VIEW = "inspect-extracted"
INSPECT_COUNTS = "inspect-counts"
INSPECT_VERTEX = "inspect-vertex"
INSPECT_ALERT = "inspect-alert"
INSPECT_SOURCE = "inspect-source"
DOWNLOAD = "inspect-download"
DL_DESIGN_GRAPHML = "dl-design-graphml"
DL_DESIGN_JSON = "dl-design-json"
DL_EXTRACTED_GRAPHML = "dl-extracted-graphml"
DL_EXTRACTED_JSON = "dl-extracted-json"
DL_CHECKPOINT = "dl-checkpoint"
UPLOAD = "design-upload"

# ----------------------------------------------------------------- lottery (reserved for the "Find a ticket" panel)
TICKET_TAB = "tab-ticket"
TICKET_PANEL = "ticket-panel"
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
TICKET_FOLLOW = "ticket-follow"  # checklist: load each new ticket round into the model (Prune/Inspect follow)
TICKET_ROUND = "ticket-round"  # dropdown of finished rounds
TICKET_LOAD = "ticket-load"
PREVIEW_VERSION = "prune-preview-version"  # dcc.Store: bumped when the previewed masks change
