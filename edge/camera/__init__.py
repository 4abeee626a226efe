"""Frame sources: real cameras, video files and the simulated camera, behind one interface."""
