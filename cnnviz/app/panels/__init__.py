"""The app's panels: one QWidget per dock, fed by the main window (no session access)."""
