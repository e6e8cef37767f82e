"""Writes the seed corpus tests/fuzz/corpus/safetensors/ with the independent Python writer: a few valid
files (every dtype, metadata, empty and scalar tensors) and a few malformed ones close to valid.
    /usr/bin/python3 tests/fuzz/make_corpus.py"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import safetensors_oracle as oracle  # noqa: E402

OUT = os.path.join(HERE, "corpus", "safetensors")


def raw(header, data=b""):
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


def main():
    os.makedirs(OUT, exist_ok=True)
    every = [(f"t.{d.lower()}", d, [2, 4], bytes(range(oracle.nbytes(d, [2, 4])))) for d in oracle.DTYPE_BITS]
    files = {
        "valid_every_dtype": oracle.encode(every, {"format": "pt"}),
        "valid_unpadded": oracle.encode([("b", "U8", [3], b"abc"), ("a", "F32", [1], bytes(4))], pad=False),
        "valid_scalar_empty": oracle.encode([("s", "F64", [], bytes(8)), ("e", "BF16", [0, 5], b"")], {"k": "v"}),
        "valid_empty_header": oracle.encode([]),
        "invalid_overlap": raw({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                                "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, bytes(3)),
        "invalid_hole": raw({"a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}, bytes(2)),
        "invalid_metadata": raw({"__metadata__": {"a": 1}}),
        "invalid_length": struct.pack("<Q", 1 << 40) + b"{}",
    }
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} files to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
