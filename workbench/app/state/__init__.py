"""The app's state: what a browser tab works on, with no Dash imports.

:mod:`~workbench.app.state.session` holds one tab's session (the design, the
workspace with its model, the ticket search, the inspect view); the views
(:mod:`workbench.app.views`) draw it and the callbacks
(:mod:`workbench.app.callbacks`) translate page events into calls on it.
"""
