"""The data node role: owns segments, keeps every acknowledged write, runs searches."""

import os

# Idle OpenMP threads sleep instead of spinning: searches run one short faiss call after another,
# and a spinning pool would burn the cores the other searches (and roles) need. Read by the
# OpenMP runtime when faiss loads, so it is set before anything imports faiss.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
