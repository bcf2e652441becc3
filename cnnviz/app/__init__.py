"""The PySide6 + pyqtgraph desktop app: `cnnviz.app.main.run()` opens it.

Only this package imports Qt. The worker thread in `controller` owns the training session;
the window (`main_window`) drains its mailbox on a timer and feeds the panels.
"""
