"""The aiming view: `gate-edge aim` shows an installer the live camera and what the detector sees."""
