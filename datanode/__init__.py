"""The data node role: owns segments, keeps every acknowledged write, runs searches."""
