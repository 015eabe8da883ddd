"""Test-wide settings: one torch thread (shared 2-core machines stall with more)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

torch.set_num_threads(1)
