#!/usr/bin/python3
"""The same tiny distillation run under every launcher gives the same loss curve.

    launch_equivalence.py prepare WORK              make-tiny qwen2_5_vl, make-data, convert, recipe.yaml, and the
                                                    one-process reference run (WORK/single)
    launch_equivalence.py run WORK NAME KIND [key=value ...]
                                                    trains under launcher KIND into WORK/NAME and compares it with
                                                    WORK/single; KIND: mpirun | srun | sbatch

The comparison is designed so that every run sees the same global batch per step. The data pipeline splits records
across data-parallel ranks by index (record i -> rank i mod world, data/README.md) and, with shuffle_buffer 1, keeps
file order; with data.batch_size 2 per rank, step s of a 2-rank data-parallel run reads records 4s..4s+3 (ranks 0
and 1 take the even and odd ones), which is exactly the batch of 4 the one-process run reads (data.batch_size 4),
and the batch of 4 each tensor-parallel rank reads (tensor parallel 2 = data parallel 1). The losses are normalised
by whole-batch counts, so the runs differ only in floating-point reduction order.

Tolerance: per-step total losses within 1e-5 relative (each term within 1e-4: the KL term is small and formed with
cancellation; gradient norms within 1e-4; trained weights within 1e-5). Float32 reduction-order differences
(other matmul blockings for other padded lengths, all-reduce summation order) are ~1e-7 relative per operation and
stay below ~1e-6 after a few AdamW steps (measured: ~2e-7 on the total, ~5e-6 on the KL term). A real mismatch is of
another order: a different sample split reads other rows (caught exactly by the samples / tokens per step, and the
losses of other rows differ at the 1e-2 level), and unsynchronised or unscaled gradients change the AdamW updates
and so every step after the first, and the trained weights, by far more than 1e-5.

Environment: MHA2MLA_BINARY (the mha2mla executable), MHA2MLA_SOURCE_DIR (for launch/), SLURM_CONF for srun/sbatch.
"""
import json
import os
import re
import subprocess
import sys
import time

STEPS = 4
LOSS_TOLERANCE = 1e-5   # the total loss per step
TERM_TOLERANCE = 1e-4   # each term; the KL term is small (~0.005 here) and formed with cancellation
NORM_TOLERANCE = 1e-4

BINARY = os.environ.get("MHA2MLA_BINARY", "mha2mla")
SOURCE = os.environ.get("MHA2MLA_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def run(command, env=None, timeout=300, cwd=None):
    print("+", " ".join(command), flush=True)
    start = time.time()
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            timeout=timeout, cwd=cwd)
    elapsed = time.time() - start
    if result.returncode != 0:
        print(result.stdout)
        fail(f"{command[0]} exited {result.returncode} after {elapsed:.1f} s")
    print(f"  ({elapsed:.1f} s)", flush=True)
    return result.stdout


RECIPE = """# Written by tests/e2e/launch_equivalence.py: a tiny distillation run, identical under every launcher.
run:
  output_dir: {work}/single
model:
  path: {work}/teacher
  dtype: float32
  device: cpu
  seed: 1234
data:
  datasets:
    - path: {work}/data
      format: llava_json
  max_length: 256
  batch_size: 2          # per data-parallel rank; the one-process and tensor-parallel runs use 4
  shuffle_buffer: 1      # file order: rank r of 2 reads records r, r + 2, ...
  workers: 0
convert:
  rope_dims: 8
  latent_rank: 8
  strategy: uniform
  init: svd
  output: {work}/converted
train:
  steps: {steps}
  mode: global           # activation, KL and CE: every normaliser is a whole-batch count
  loss:
    activation: 1.0
    kl: 0.5
    ce: 0.25
  lora:
    rank: 4
  optimizer:
    lr: 0.001
    clip_norm: 0.05      # small: the runs must agree on the global gradient norm to clip alike
  tensorboard_dir: ""
checkpoint:
  every: 2
distributed:
  timeout_seconds: 60
"""


def prepare(work):
    os.makedirs(work, exist_ok=True)
    run([BINARY, "make-tiny", "--arch", "qwen2_5_vl", "--out", f"{work}/teacher"])
    run([BINARY, "make-data", "--format", "llava_json", "--out", f"{work}/data", "--samples", str(4 * STEPS + 4)])
    with open(f"{work}/recipe.yaml", "w") as f:
        f.write(RECIPE.format(work=work, steps=STEPS))
    run([BINARY, "convert", f"{work}/recipe.yaml"])
    reference = f"{work}/single"
    subprocess.run(["rm", "-rf", reference], check=True)
    run([BINARY, "train", f"{work}/recipe.yaml", f"run.output_dir={reference}", "data.batch_size=4"],
        env=dict(os.environ, OMP_NUM_THREADS="1"))
    check_outputs(reference, tensor_parallel=1)


def step_records(folder):
    path = os.path.join(folder, "metrics.jsonl")
    if not os.path.exists(path):
        fail(f"{path} was not written")
    steps = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if record.get("type") == "step":
                steps[record["step"]] = record
    if sorted(steps) != list(range(1, STEPS + 1)):
        fail(f"{path}: steps {sorted(steps)}, expected 1..{STEPS}")
    return steps


def check_outputs(folder, tensor_parallel):
    for step in (2, STEPS):
        checkpoint = os.path.join(folder, "checkpoints", f"step-{step}")
        for rank in range(tensor_parallel):
            weights = os.path.join(checkpoint, f"weights-tp{rank}.safetensors")
            if not os.path.exists(weights):
                fail(f"{weights} is missing (checkpoint.every = 2, tensor_parallel = {tensor_parallel})")
        if not os.path.exists(os.path.join(checkpoint, "DONE")):
            fail(f"{checkpoint} is not complete")
    if not os.path.exists(os.path.join(folder, "trained", "config.json")):
        fail(f"{folder}/trained: the trained model folder was not written")


def safetensors(path):
    """name -> (dtype, shape, raw bytes) of a safetensors file (the format: 8-byte length, JSON header, data)."""
    with open(path, "rb") as f:
        data = f.read()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        tensors[name] = (info["dtype"], info["shape"], body[begin:end])
    return tensors


def trained_tensors(folder):
    import glob
    tensors = {}
    for path in sorted(glob.glob(os.path.join(folder, "trained", "*.safetensors"))):
        tensors.update(safetensors(path))
    return tensors


def compare(work, name, tensor_parallel):
    import numpy as np
    reference, candidate = step_records(f"{work}/single"), step_records(f"{work}/{name}")
    worst = 0.0
    for step in range(1, STEPS + 1):
        ref, got = reference[step], candidate[step]
        if (got["samples"], got["tokens"]) != (ref["samples"], ref["tokens"]):
            fail(f"step {step}: {name} consumed {got['samples']} samples / {got['tokens']} tokens, the one-process run "
                 f"{ref['samples']} / {ref['tokens']}: the runs did not read the same batches")
        for term, value in ref["loss"].items():
            other = got["loss"].get(term)
            difference = abs(other - value) / abs(value)
            if term == "total":
                worst = max(worst, difference)
            print(f"  step {step} {term:10s} one process {value:.9g}  {name} {other:.9g}  rel {difference:.2e}")
            tolerance = LOSS_TOLERANCE if term == "total" else TERM_TOLERANCE
            if difference > tolerance:
                fail(f"step {step}: loss '{term}' {other!r} under {name} vs {value!r} in one process "
                     f"(relative difference {difference:.2e} > {tolerance})")
        norm_difference = abs(got["grad_norm"] - ref["grad_norm"]) / ref["grad_norm"]
        if norm_difference > NORM_TOLERANCE:
            fail(f"step {step}: gradient norm {got['grad_norm']} under {name} vs {ref['grad_norm']} in one process")
    losses = [reference[s]["loss"]["total"] for s in range(1, STEPS + 1)]
    if max(losses) - min(losses) < 100 * LOSS_TOLERANCE * max(losses):
        fail(f"the loss curve {losses} hardly moves; the comparison would not tell runs apart")
    check_outputs(f"{work}/{name}", tensor_parallel)
    # The trained folder is written whole whatever the launch: same names, shapes and (nearly) values.
    ref_tensors, got_tensors = trained_tensors(f"{work}/single"), trained_tensors(f"{work}/{name}")
    if sorted(ref_tensors) != sorted(got_tensors):
        fail(f"{name}/trained holds other tensors than the one-process run's")
    for tensor, (dtype, shape, raw) in ref_tensors.items():
        other_dtype, other_shape, other_raw = got_tensors[tensor]
        if (dtype, shape) != (other_dtype, other_shape):
            fail(f"{name}/trained: {tensor} is {other_dtype}{other_shape}, expected {dtype}{shape}")
        a = np.frombuffer(raw, dtype=np.float32).astype(np.float64)
        b = np.frombuffer(other_raw, dtype=np.float32).astype(np.float64)
        difference = np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30)
        if difference > LOSS_TOLERANCE:
            fail(f"{name}/trained: {tensor} differs from the one-process run's by {difference:.2e} (relative)")
    print(f"PASS: {name} follows the one-process loss curve (worst relative difference {worst:.2e})")


def job_field(job, field):
    out = subprocess.run(["scontrol", "show", "job", job], stdout=subprocess.PIPE, text=True).stdout
    match = re.search(rf"(^|\s){field}=(\S*)", out)
    return match.group(2) if match else ""


def wait_for_job(job, limit):
    deadline = time.time() + limit
    while time.time() < deadline:
        state = job_field(job, "JobState")
        if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"):
            queued = subprocess.run(["squeue", "-h", "-j", job], stdout=subprocess.PIPE, text=True).stdout.strip()
            if not queued:
                return state
        time.sleep(0.2)
    subprocess.run(["scancel", job])
    return "STILL_RUNNING"


def launch(work, name, kind, overrides):
    out = f"{work}/{name}"
    subprocess.run(["rm", "-rf", out], check=True)
    os.makedirs(out)
    recipe = f"{work}/recipe.yaml"
    args = [recipe, f"run.output_dir={out}"] + overrides
    env = dict(os.environ, OMP_NUM_THREADS="1", MHA2MLA_BINARY=BINARY)
    if kind == "mpirun":
        run([os.path.join(SOURCE, "launch", "mpirun.sh"), "-n", "2"] + args, env=env)
    elif kind == "srun":
        run(["srun", "--mpi=pmix", "-n", "2", "--kill-on-bad-exit=1", BINARY, "train"] + args, env=env)
    elif kind == "sbatch":
        env["MHA2MLA_LOG_LEVEL"] = "info"  # the runtime's start-up lines name each rank's node
        job = run(["sbatch", "--parsable", "--nodes=2", "--ntasks-per-node=1", "--cpus-per-task=1",
                   "--gpus-per-node=0", "--time=5", "--job-name=launch-equivalence",
                   os.path.join(SOURCE, "launch", "slurm", "train.sbatch")] + args, env=env, cwd=out).strip()
        state = wait_for_job(job, 240)
        log = "".join(open(os.path.join(out, f)).read() for f in os.listdir(out) if f.endswith(".out"))
        print(log)
        if state != "COMPLETED":
            fail(f"job {job} ended {state}, expected COMPLETED")
        nodes = set(re.findall(r"rank \d: local rank 0 of 1, host \S+ \(node (n\d)\)", log))
        if nodes != {"n1", "n2"}:
            fail(f"job {job} ran on nodes {sorted(nodes)}, expected n1 and n2")
    else:
        fail(f"unknown launcher '{kind}'")
    tensor_parallel = 2 if "distributed.tensor_parallel=2" in overrides else 1
    compare(work, name, tensor_parallel)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "prepare":
        prepare(sys.argv[2])
    elif len(sys.argv) >= 5 and sys.argv[1] == "run":
        launch(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
