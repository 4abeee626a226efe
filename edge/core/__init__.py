"""The pure core: detect, align, embed, select, gate on quality, search, decide. numpy (+cv2 image ops) only."""
