"""Python oracle for mha2mla's safetensors layer (model/io/).

The oracle is safetensors_oracle.py, an independent reader/writer written from the format description.
Files go both ways through the C++ test helper tests/helpers/safetensors_tool:
  1. the committed reference data equals what make_safetensors_reference.py writes now;
  2. Python writes a checkpoint of every dtype (unaligned, unsorted) -> C++ reads and rewrites it ->
     the strict Python reader checks the C++ file: spec layout (space padding to 8, tiling, element
     alignment, deterministic order) and every byte;
  3. the same, sharded: HF file names, index total_size and weight_map, greedy split in name order;
  4. the same through LibTorch: exact dtypes unchanged, FP8 decoded to the values of the formats'
     definitions, unsigned types widened;
  5. Python-written shards are listed by C++ as Python wrote them;
  6. malformed files written by Python are refused by C++ with a message naming the problem.
"""
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_safetensors_reference as reference  # noqa: E402
import safetensors_oracle as oracle  # noqa: E402

SOURCE = os.environ.get("MHA2MLA_SOURCE_DIR", os.path.normpath(os.path.join(HERE, "..", "..")))
HELPERS = os.environ.get("MHA2MLA_TEST_HELPERS", os.path.join(os.getcwd(), "tests", "helpers"))
TOOL = os.path.join(HELPERS, "safetensors_tool")
FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print("FAIL:", message)


def run_tool(*args, expect_ok=True):
    result = subprocess.run([TOOL, *args], capture_output=True, text=True)
    if expect_ok and result.returncode != 0:
        raise RuntimeError(f"safetensors_tool {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def every_dtype_tensors(seed, torch_safe=False):
    """One tensor per dtype with random bytes, plus IEEE corner cases, a scalar and an empty tensor.
    torch_safe: BOOL bytes are 0/1 and U64 values fit int64 (what LibTorch can hold)."""
    rng = random.Random(seed)
    tensors = []
    for dtype in oracle.DTYPE_BITS:
        shape = [2, 4]  # 8 elements: whole bytes for the 4- and 6-bit types
        data = bytearray(rng.getrandbits(8) for _ in range(oracle.nbytes(dtype, shape)))
        if dtype == "BOOL":
            data = bytearray(b & 1 for b in data)
        if dtype == "U64" and torch_safe:
            for i in range(7, len(data), 8):
                data[i] &= 0x7F
        tensors.append((f"t.{dtype.lower()}", dtype, shape, bytes(data)))
    tensors.append(("bf16.specials", "BF16", [8],
                    struct.pack("<8H", 0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC1, 0xFFC0, 0x0001, 0x807F)))
    tensors.append(("f16.specials", "F16", [8],
                    struct.pack("<8H", 0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E01, 0xFE00, 0x0001, 0x83FF)))
    tensors.append(("f32.specials", "F32", [4], struct.pack("<4I", 0x00000001, 0x80000000, 0x7FC00001, 0xFF800000)))
    tensors.append(("a.scalar", "F64", [], struct.pack("<d", -2.5)))
    tensors.append(("z.empty", "BF16", [3, 0], b""))
    tensors.append(("odd.u8", "U8", [3], b"\x01\x02\x03"))  # misaligns what follows in the Python file
    tensors.reverse()  # neither sorted nor aligned
    return tensors


METADATA = {"format": "pt", "written_by": "python oracle", "unicode": "naïve ✓"}


def check_cpp_layout(path, label):
    """What our writer promises beyond validity: header padded with spaces to a multiple of 8, tensors in
    decreasing element size then name, each at a multiple of its element size."""
    metadata, tensors, layout = oracle.read(path)
    text = layout["header_text"]
    check(layout["header_length"] % 8 == 0, f"{label}: header length {layout['header_length']} not a multiple of 8")
    stripped = text.rstrip(b" ")
    check(stripped.endswith(b"}") and len(text) - len(stripped) < 8, f"{label}: header padding is not 0-7 spaces")
    order = [name for name, _, _ in layout["order"]]
    # zero-byte tensors sort by offset alongside others; compare with the writer's rule on the ordering key
    key = [(-oracle.DTYPE_BITS[tensors[n][0]], n) for n in order]
    nonempty = [k for k, n in zip(key, order) if tensors[n][2]]
    check(nonempty == sorted(nonempty), f"{label}: tensors not in (element size desc, name) order: {order}")
    for name, begin, _ in layout["order"]:
        size = max(1, oracle.DTYPE_BITS[tensors[name][0]] // 8)
        check(begin % size == 0, f"{label}: {name} starts at {begin}, not a multiple of {size}")
    return metadata, tensors


def test_reference_data_is_reproducible(scratch):
    folder = os.path.join(scratch, "reference")
    reference.write_all(folder)
    committed = os.path.join(SOURCE, "tests", "data", "safetensors")
    for relative in ["reference.safetensors", "sharded/model-00001-of-00002.safetensors",
                     "sharded/model-00002-of-00002.safetensors", "sharded/model.safetensors.index.json"]:
        with open(os.path.join(folder, relative), "rb") as a, open(os.path.join(committed, relative), "rb") as b:
            check(a.read() == b.read(), f"tests/data/safetensors/{relative} differs from what the generator writes")


def test_python_to_cpp_to_python(scratch):
    tensors = every_dtype_tensors(1)
    source = os.path.join(scratch, "in.safetensors")
    oracle.write(source, tensors, METADATA, pad=False)
    out = os.path.join(scratch, "copy")
    run_tool("copy", source, out)
    check(sorted(os.listdir(out)) == ["model.safetensors"], f"single-file copy wrote {os.listdir(out)}")
    metadata, read_back = check_cpp_layout(os.path.join(out, "model.safetensors"), "copy")
    check(metadata == METADATA, f"metadata changed: {metadata}")
    check(set(read_back) == {t[0] for t in tensors}, "tensor names changed")
    for name, dtype, shape, data in tensors:
        check(read_back[name] == (dtype, shape, data), f"{name}: {read_back[name][:2]} vs {(dtype, shape)} or bytes")
    # Deterministic: a second copy, from the C++ file this time, is byte-identical.
    again = os.path.join(scratch, "copy2")
    run_tool("copy", os.path.join(out, "model.safetensors"), again)
    with open(os.path.join(out, "model.safetensors"), "rb") as a, open(os.path.join(again, "model.safetensors"),
                                                                       "rb") as b:
        check(a.read() == b.read(), "copying the copy changed its bytes")


def test_sharded_copy(scratch):
    tensors = every_dtype_tensors(2)
    source = os.path.join(scratch, "in.safetensors")
    oracle.write(source, tensors, METADATA)
    limit = 40
    out = os.path.join(scratch, "sharded")
    run_tool("copy", source, out, "--max-shard-bytes", str(limit))

    # HF's greedy split, over the tensors in name order.
    shards, size = [[]], 0
    for name, _, _, data in sorted(tensors):
        if shards[-1] and size + len(data) > limit:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += len(data)
    count = len(shards)
    expected_files = [f"model-{i + 1:05d}-of-{count:05d}.safetensors" for i in range(count)]
    check(sorted(os.listdir(out)) == sorted(expected_files + ["model.safetensors.index.json"]),
          f"sharded copy wrote {sorted(os.listdir(out))}, expected {count} shards")
    with open(os.path.join(out, "model.safetensors.index.json")) as f:
        index = json.load(f)
    check(index["metadata"]["total_size"] == sum(len(t[3]) for t in tensors),
          f"total_size {index['metadata']['total_size']}")
    by_name = {t[0]: t for t in tensors}
    for file_name, names in zip(expected_files, shards):
        for name in names:
            check(index["weight_map"].get(name) == file_name, f"{name} mapped to {index['weight_map'].get(name)}")
        metadata, read_back = check_cpp_layout(os.path.join(out, file_name), file_name)
        check(metadata == METADATA, f"{file_name}: metadata {metadata}")
        check(sorted(read_back) == sorted(names), f"{file_name} holds {sorted(read_back)}, expected {names}")
        for name in names:
            check(read_back.get(name) == by_name[name][1:], f"{file_name}: {name} differs")
    check(len(index["weight_map"]) == len(tensors), "index lists the wrong number of tensors")


def same_float(a, b):
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


def test_through_torch(scratch):
    tensors = every_dtype_tensors(3, torch_safe=True)
    tensors += [(f"codes.{d.lower()}", d, [256], bytes(range(256)))
                for d in ["F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0"]]
    source = os.path.join(scratch, "in.safetensors")
    oracle.write(source, tensors, METADATA, pad=False)
    out = os.path.join(scratch, "torch")
    run_tool("copy", source, out, "--through-torch")
    _, read_back = check_cpp_layout(os.path.join(out, "model.safetensors"), "through-torch")
    widened = {"U16": ("I32", "<H", "<i"), "U32": ("I64", "<I", "<q"), "U64": ("I64", "<Q", "<q")}
    for name, dtype, shape, data in tensors:
        got_dtype, got_shape, got = read_back[name]
        check(got_shape == shape, f"{name}: shape {got_shape}")
        if dtype.startswith("F8_"):
            check(got_dtype == "F32", f"{name}: {dtype} loaded as {got_dtype}")
            values = struct.unpack(f"<{len(got) // 4}f", got)
            for code, value in zip(data, values):
                check(same_float(value, oracle.fp8_value(dtype, code)),
                      f"{name}: code 0x{code:02x} -> {value}, definition {oracle.fp8_value(dtype, code)}")
        elif dtype in widened:
            target, src_fmt, dst_fmt = widened[dtype]
            check(got_dtype == target, f"{name}: {dtype} loaded as {got_dtype}")
            src = [v[0] for v in struct.iter_unpack(src_fmt, data)]
            dst = [v[0] for v in struct.iter_unpack(dst_fmt, got)]
            check(src == dst, f"{name}: values {src} became {dst}")
        else:
            check((got_dtype, got) == (dtype, data), f"{name}: {dtype} came back as {got_dtype} or changed bytes")


def test_cpp_lists_python_shards(scratch):
    folder = os.path.join(SOURCE, "tests", "data", "safetensors", "sharded")
    listing = json.loads(run_tool("check", folder).stdout)
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        index = json.load(f)
    for shard in sorted(set(index["weight_map"].values())):
        _, tensors, _ = oracle.read(os.path.join(folder, shard))
        for name, (dtype, shape, _) in tensors.items():
            got = listing["tensors"].get(name, {})
            check(got.get("dtype") == dtype and got.get("shape") == shape, f"C++ lists {name} as {got}")
            check(os.path.basename(got.get("file", "")) == shard, f"C++ places {name} in {got.get('file')}")
    check(len(listing["tensors"]) == len(index["weight_map"]), "C++ lists a different number of tensors")
    check(listing["unlisted"] == [], f"unlisted: {listing['unlisted']}")
    check(listing["metadata"] == {"format": "pt"}, f"metadata: {listing['metadata']}")


def malformed_cases():
    """(label, bytes, substrings the C++ message must hold)."""
    def raw(header_text, data=b""):
        text = header_text.encode()
        return struct.pack("<Q", len(text)) + text + data

    def entry(dtype, shape, begin, end):
        return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}

    return [
        ("truncated", oracle.encode([("w", "F32", [4], bytes(16))])[:-3], ["end past the data buffer"]),
        ("header past end", struct.pack("<Q", 1000) + b"{}", ["header length 1000", "truncated"]),
        ("overlap", raw(json.dumps({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}), bytes(12)),
         ["'a'", "'b'", "overlap"]),
        ("hole", raw(json.dumps({"a": entry("U8", [2], 0, 2), "b": entry("U8", [2], 4, 6)}), bytes(6)),
         ["bytes [2, 4)", "belong to no tensor"]),
        ("unknown dtype", raw(json.dumps({"w": entry("F12", [1], 0, 2)}), bytes(2)), ["unknown dtype 'F12'"]),
        ("metadata number", raw(json.dumps({"__metadata__": {"step": 3}})), ["'__metadata__' value of 'step'"]),
        ("duplicate", raw('{"w":' + json.dumps(entry("U8", [1], 0, 1)) + ',"w":' + json.dumps(entry("U8", [1], 1, 2))
                          + "}", bytes(2)), ["key 'w' appears twice"]),
        ("byte mismatch", raw(json.dumps({"w": entry("BF16", [3], 0, 4)}), bytes(4)), ["needs 6 bytes"]),
    ]


def test_cpp_refuses_malformed_files(scratch):
    for label, data, expected in malformed_cases():
        path = os.path.join(scratch, label.replace(" ", "_") + ".safetensors")
        with open(path, "wb") as f:
            f.write(data)
        try:
            oracle.decode(data)
            check(False, f"the Python oracle accepts the malformed case '{label}'")
        except (oracle.FormatError, ValueError, KeyError, AssertionError):
            pass
        result = run_tool("check", path, expect_ok=False)
        check(result.returncode == 1, f"{label}: exit code {result.returncode}, stderr {result.stderr!r}")
        for text in expected + [os.path.basename(path)]:
            check(text in result.stderr, f"{label}: message lacks {text!r}: {result.stderr!r}")
    # An index naming a shard that is not there.
    folder = os.path.join(scratch, "missing_shard")
    oracle.write_sharded(folder, [[("a", "U8", [1], b"\x01")], [("b", "U8", [1], b"\x02")]])
    os.remove(os.path.join(folder, "model-00002-of-00002.safetensors"))
    result = run_tool("check", folder, expect_ok=False)
    check(result.returncode == 1 and "model-00002-of-00002.safetensors" in result.stderr
          and "does not exist" in result.stderr, f"missing shard: {result.stderr!r}")


def main():
    if not os.path.exists(TOOL):
        print(f"FAIL: test helper {TOOL} not found (build the project first)")
        return 1
    root = os.environ.get("MHA2MLA_TEST_TMP", tempfile.gettempdir())
    os.makedirs(root, exist_ok=True)
    tests = [test_reference_data_is_reproducible, test_python_to_cpp_to_python, test_sharded_copy,
             test_through_torch, test_cpp_lists_python_shards, test_cpp_refuses_malformed_files]
    for test in tests:
        scratch = tempfile.mkdtemp(prefix=test.__name__ + ".", dir=root)
        before = len(FAILURES)
        test(scratch)
        print(("ok   " if len(FAILURES) == before else "FAIL ") + test.__name__)
        if len(FAILURES) == before:
            shutil.rmtree(scratch)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("all safetensors oracle checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
