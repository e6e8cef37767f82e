"""Reads a Hugging Face checkpoint folder (config.json + model.safetensors or a sharded index) into torch
tensors through the independent safetensors oracle (tests/python/safetensors_oracle.py)."""
import json
import os

import numpy as np
import torch

import safetensors_oracle

_NUMPY = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def _to_torch(dtype, shape, data):
    if dtype == "BF16":  # the top half of a float32
        array = (np.frombuffer(data, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
    else:
        array = np.frombuffer(data, dtype=_NUMPY[dtype])
    return torch.from_numpy(array.reshape(shape).copy())


def read_safetensors(path):
    _, tensors, _ = safetensors_oracle.read(path)
    return {name: _to_torch(*entry) for name, entry in tensors.items()}


def load_checkpoint(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    index = os.path.join(folder, "model.safetensors.index.json")
    tensors = {}
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        for shard in shards:
            tensors.update(read_safetensors(os.path.join(folder, shard)))
    else:
        tensors = read_safetensors(os.path.join(folder, "model.safetensors"))
    return config, tensors
