"""Shared pieces of the end-to-end training tests: running the mha2mla binary, tiny fixtures (make-tiny,
make-data), recipes, reading safetensors files byte for byte (an independent reader: header length, JSON header,
data offsets, as the safetensors spec defines them) and metrics.jsonl records.

Environment (set by ctest, tests/e2e/CMakeLists.txt): MHA2MLA_BINARY, MHA2MLA_TEST_TMP, MHA2MLA_TEST_HELPERS."""
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import time

BINARY = os.environ["MHA2MLA_BINARY"]
HELPERS = os.environ.get("MHA2MLA_TEST_HELPERS", "")
TMP = os.environ.get("MHA2MLA_TEST_TMP", "/tmp/mha2mla-e2e")

# Fields of a step record that depend on the clock, not on the computation.
TIMING_FIELDS = ("tokens_per_s", "elapsed_s")


class TestFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def scratch(name):
    folder = os.path.join(TMP, "e2e", name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    return folder


def environment(threads=1):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env.setdefault("MHA2MLA_LOG_LEVEL", "info")
    return env


def run(args, log, expect_rc=0, threads=1):
    """Runs `mha2mla ARGS`, output to `log`; returns the output text. Raises TestFailure on another exit code."""
    with open(log, "w") as out:
        rc = subprocess.call([BINARY] + args, stdout=out, stderr=subprocess.STDOUT, env=environment(threads))
    text = open(log).read()
    if expect_rc is not None and rc != expect_rc:
        raise TestFailure("mha2mla %s exited %d (expected %d); log %s:\n%s" % (" ".join(args), rc, expect_rc, log,
                                                                            text[-4000:]))
    return text


def start(args, log, threads=1):
    """Starts `mha2mla ARGS` in the background (output to `log`)."""
    out = open(log, "w")
    return subprocess.Popen([BINARY] + args, stdout=out, stderr=subprocess.STDOUT, env=environment(threads))


def make_fixture(folder, arch="qwen2_5_vl", samples=64):
    """A tiny model and a llava_json dataset: returns (model folder, data.json path)."""
    model, data = os.path.join(folder, "tiny"), os.path.join(folder, "data")
    run(["make-tiny", "--arch", arch, "--out", model], os.path.join(folder, "make-tiny.log"))
    run(["make-data", "--format", "llava_json", "--out", data, "--samples", str(samples)],
        os.path.join(folder, "make-data.log"))
    return model, os.path.join(data, "data.json")


def recipe_text(model, data, output_dir, train=None, convert=None, checkpoint=None, data_extra=None):
    """A recipe (JSON is YAML) with the tiny fixture and the given section overrides."""
    recipe = {
        "run": {"output_dir": output_dir},
        "model": {"path": model, "seed": 1234, "threads": 1},
        "data": {"datasets": [{"path": data}], "batch_size": 2, "max_length": 256, "held_out": 8,
                 "shuffle_buffer": 16, "workers": 2, "prefetch": 2},
        "convert": {"rope_dims": 8, "latent_rank": 8, "strategy": "high", "init": "svd"},
        "train": {"steps": 8, "log_every": 1, "tensorboard_dir": "", "optimizer": {"lr": 1e-3},
                  "schedule": {"kind": "constant"}},
        "checkpoint": {"every": 2, "keep_last": 10},
    }
    for section, extra in (("train", train), ("convert", convert), ("checkpoint", checkpoint), ("data", data_extra)):
        for key, value in (extra or {}).items():
            if isinstance(value, dict) and isinstance(recipe[section].get(key), dict):
                recipe[section][key].update(value)
            else:
                recipe[section][key] = value
    return json.dumps(recipe, indent=1)


def write_recipe(path, *args, **kwargs):
    with open(path, "w") as f:
        f.write(recipe_text(*args, **kwargs))
    return path


def held_out(recipe, folder):
    """tests/helpers/held_out_losses RECIPE FOLDER: the held-out losses (its last stdout line; logs come before)."""
    out = subprocess.run([os.path.join(HELPERS, "held_out_losses"), recipe, folder], capture_output=True, text=True,
                         env=environment())
    check(out.returncode == 0, "held_out_losses %s failed: %s" % (folder, (out.stderr + out.stdout)[-2000:]))
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- safetensors, read directly -------------------------------------------------------------------------------

def read_safetensors(path):
    """name -> (dtype, shape, raw bytes)."""
    with open(path, "rb") as f:
        blob = f.read()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + length])
    base = 8 + length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        tensors[name] = (info["dtype"], tuple(info["shape"]), blob[base + begin:base + end])
    return tensors


def read_folder(folder):
    """Every tensor of a model folder (model.safetensors or shards)."""
    tensors = {}
    files = sorted(glob.glob(os.path.join(folder, "*.safetensors")))
    check(files, "no .safetensors file in %s" % folder)
    for path in files:
        tensors.update(read_safetensors(path))
    return tensors


def as_floats(entry):
    dtype, shape, raw = entry
    check(dtype == "F32", "expected F32 tensors, got %s" % dtype)
    return struct.unpack("<%df" % (len(raw) // 4), raw)


# --- metrics --------------------------------------------------------------------------------------------------

def step_records(metrics_path):
    """The step records of a metrics.jsonl, clock fields removed."""
    records = []
    for line in open(metrics_path):
        record = json.loads(line)
        if record["type"] != "step":
            continue
        for field in TIMING_FIELDS:
            record.pop(field, None)
        records.append(record)
    return records


def logged_steps(metrics_path):
    if not os.path.exists(metrics_path):
        return 0
    count = 0
    with open(metrics_path) as f:
        for line in f:
            if line.endswith("\n") and '"type":"step"' in line:
                count += 1
    return count


def wait_for_steps(process, metrics_path, steps, timeout=120):
    """Waits until `steps` step records are logged; fails if the process ends first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if logged_steps(metrics_path) >= steps:
            return
        if process.poll() is not None:
            raise TestFailure("mha2mla train ended (exit %d) before logging %d steps" % (process.returncode, steps))
        time.sleep(0.005)
    raise TestFailure("no %d logged steps after %d s" % (steps, timeout))


def main(tests):
    """Runs the named test functions in order; prints a line per test; exits non-zero on the first failure."""
    for test in tests:
        began = time.time()
        try:
            test()
        except TestFailure as failure:
            print("FAIL %s: %s" % (test.__name__, failure), flush=True)
            sys.exit(1)
        print("ok   %s (%.1f s)" % (test.__name__, time.time() - began), flush=True)
