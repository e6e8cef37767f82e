"""End to end: `mha2mla train` stopped and resumed continues exactly where it left off.

  kill -9 at a random logged step, then checkpoint.resume=auto: metrics.jsonl's step records (clock fields aside) and
      the trained weights, the final checkpoint's weights and optimizer state equal an uninterrupted run's bit for
      bit (same recipe, one process, one thread).
  SIGUSR1, later SIGTERM (Slurm's preemption warning, a scheduler's stop): a checkpoint is saved, the run exits 0
      with the reason logged, the next run resumes, and the end result is again the uninterrupted run's.
  A damaged newest checkpoint (truncated file), a folder without DONE and a leftover .partial folder are never
      resumed from: resume=auto takes the newest complete one (and still ends bitwise equal); resume=<damaged path>
      and a corrupt manifest fail with an error naming the checkpoint, the file and what is wrong.

The oracle is the uninterrupted run itself: nothing is compared with numbers the interrupted runs printed."""
import os
import random
import shutil
import signal

from e2e_support import (check, main, make_fixture, read_folder, read_safetensors, run, scratch, start,
                         step_records, wait_for_steps, write_recipe)

ROOT = scratch("train_resume")
MODEL, DATA = make_fixture(ROOT)
CONVERTED = os.path.join(ROOT, "converted")
STEPS = 8


def recipe(name, **sections):
    """A recipe training the shared converted model into ROOT/<name>."""
    output = os.path.join(ROOT, name)
    train = {"steps": STEPS, "init_from": CONVERTED}
    train.update(sections.pop("train", {}))
    return write_recipe(os.path.join(ROOT, name + ".yaml"), MODEL, DATA, output, train=train, **sections), output


def convert():
    path = write_recipe(os.path.join(ROOT, "convert.yaml"), MODEL, DATA, ROOT, convert={"output": CONVERTED})
    run(["convert", path], os.path.join(ROOT, "convert.log"))


def final_checkpoint(output):
    return os.path.join(output, "checkpoints", "step-%d" % STEPS)


def assert_same_run(reference, other):
    """The step records, the trained folder and the final checkpoint's tensors are identical."""
    a, b = step_records(os.path.join(reference, "metrics.jsonl")), step_records(os.path.join(other, "metrics.jsonl"))
    check([r["step"] for r in b] == list(range(1, STEPS + 1)),
          "%s: logged steps %s, expected 1..%d once each" % (other, [r["step"] for r in b], STEPS))
    for ra, rb in zip(a, b):
        check(ra == rb, "step %d differs:\n  uninterrupted %s\n  resumed       %s" % (ra["step"], ra, rb))
    ta, tb = read_folder(os.path.join(reference, "trained")), read_folder(os.path.join(other, "trained"))
    check(sorted(ta) == sorted(tb), "the trained folders hold different tensors")
    differing = [name for name in ta if ta[name] != tb[name]]
    check(not differing, "trained tensors differ from the uninterrupted run's: %s" % differing[:5])
    for file in ("weights-tp0.safetensors", "optimizer-tp0.safetensors"):
        fa = read_safetensors(os.path.join(final_checkpoint(reference), file))
        fb = read_safetensors(os.path.join(final_checkpoint(other), file))
        differing = [name for name in fa if fa[name] != fb.get(name)]
        check(sorted(fa) == sorted(fb) and not differing, "%s differs: %s" % (file, differing[:5]))


def uninterrupted():
    path, output = recipe("reference")
    log = run(["train", path], os.path.join(ROOT, "reference.log"))
    check("resumed from" not in log, "the reference run resumed from something")
    records = step_records(os.path.join(output, "metrics.jsonl"))
    check(len(records) == STEPS, "the reference run logged %d steps" % len(records))
    # Training happened: the loss moved and the trained tensors are not the converted ones.
    check(records[-1]["loss"]["total"] < records[0]["loss"]["total"],
          "the activation loss did not fall over %d steps: %s" % (STEPS, [r["loss"]["total"] for r in records]))


def test_kill_at_a_random_step_then_resume_is_bitwise_identical():
    kill_after = int(os.environ.get("MHA2MLA_E2E_KILL_AFTER", random.Random().randint(2, STEPS - 2)))
    print("     SIGKILL after %d logged steps (MHA2MLA_E2E_KILL_AFTER=%d reproduces)" % (kill_after, kill_after))
    path, output = recipe("killed")
    process = start(["train", path], os.path.join(ROOT, "killed-1.log"))
    wait_for_steps(process, os.path.join(output, "metrics.jsonl"), kill_after)
    process.send_signal(signal.SIGKILL)
    process.wait()
    check(not os.path.exists(os.path.join(output, "trained")), "the killed run wrote its trained folder")
    log = run(["train", path], os.path.join(ROOT, "killed-2.log"))
    checkpoints = os.path.join(output, "checkpoints")
    if "resumed from" not in log:  # killed before the first checkpoint: a fresh start is right
        check("no complete checkpoint" in log, "the second run neither resumed nor said why not")
    assert_same_run(os.path.join(ROOT, "reference"), output)
    check(not [n for n in os.listdir(checkpoints) if n.endswith(".partial")], "a .partial folder was left behind")


def test_sigusr1_and_sigterm_save_exit_zero_and_resume():
    path, output = recipe("preempted", checkpoint={"every": 0})
    metrics = os.path.join(output, "metrics.jsonl")
    steps_seen = 0
    for number, (sig, name) in enumerate(((signal.SIGUSR1, "SIGUSR1"), (signal.SIGTERM, "SIGTERM"))):
        log_path = os.path.join(ROOT, "preempted-%d.log" % (number + 1))
        process = start(["train", path], log_path)
        wait_for_steps(process, metrics, steps_seen + 2)
        process.send_signal(sig)
        rc = process.wait(timeout=120)
        log = open(log_path).read()
        check(rc == 0, "after %s the run exited %d, expected 0:\n%s" % (name, rc, log[-3000:]))
        check("preempted by " + name in log, "the log does not give the reason 'preempted by %s'" % name)
        saved = sorted(int(n.split("-")[1]) for n in os.listdir(os.path.join(output, "checkpoints"))
                       if n.startswith("step-"))
        check(saved and saved[-1] > steps_seen, "no new checkpoint after %s (have %s)" % (name, saved))
        check(saved[-1] < STEPS, "the run finished before %s arrived; the test needs a longer run" % name)
        if number:
            check("resumed from %s at step %d" % (os.path.join(output, "checkpoints", "step-%d" % steps_seen),
                                                  steps_seen) in log, "run %d did not resume" % (number + 1))
        steps_seen = saved[-1]
        check(not os.path.exists(os.path.join(output, "trained")), "a preempted run wrote its trained folder")
    log = run(["train", path], os.path.join(ROOT, "preempted-3.log"))
    check("resumed from" in log and "at step %d" % steps_seen in log, "the last run did not resume at %d" % steps_seen)
    assert_same_run(os.path.join(ROOT, "reference"), output)


def test_damaged_checkpoints_are_never_resumed_from():
    reference = os.path.join(ROOT, "reference")
    path, output = recipe("damaged")
    shutil.copytree(os.path.join(reference, "checkpoints"), os.path.join(output, "checkpoints"))
    checkpoints = os.path.join(output, "checkpoints")
    newest, previous = os.path.join(checkpoints, "step-8"), os.path.join(checkpoints, "step-6")
    # The newest checkpoint's optimizer file cut short (a copy that stopped midway) ...
    optimizer = os.path.join(newest, "optimizer-tp0.safetensors")
    size = os.path.getsize(optimizer)
    with open(optimizer, "r+b") as f:
        f.truncate(size // 2)
    # ... a folder that never got its DONE marker, and a save interrupted before its rename.
    shutil.copytree(previous, os.path.join(checkpoints, "step-9"))
    os.remove(os.path.join(checkpoints, "step-9", "DONE"))
    shutil.copytree(previous, os.path.join(checkpoints, ".step-10.partial"))

    # An explicit resume from the damaged one fails, naming the checkpoint, the file and the problem.
    log = run(["train", path, "checkpoint.resume=" + newest], os.path.join(ROOT, "damaged-explicit.log"), expect_rc=1)
    for fragment in ("step-8", "is not complete", "optimizer-tp0.safetensors", str(size), str(size // 2)):
        check(fragment in log, "the error lacks '%s':\n%s" % (fragment, log[-2000:]))
    # A corrupt manifest: DONE no longer matches it.
    manifest = os.path.join(checkpoints, "step-4", "manifest.pb")
    with open(manifest, "r+b") as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0xFF
        f.seek(0)
        f.write(data)
    log = run(["train", path, "checkpoint.resume=" + os.path.join(checkpoints, "step-4")],
              os.path.join(ROOT, "damaged-manifest.log"), expect_rc=1)
    for fragment in ("step-4", "is not complete", "manifest.pb"):
        check(fragment in log, "the corrupt-manifest error lacks '%s':\n%s" % (fragment, log[-2000:]))

    # resume=auto skips step-9 (no DONE) and step-8 (damaged), resumes from step-6 and ends where the reference did.
    os.remove(os.path.join(output, "metrics.jsonl")) if os.path.exists(os.path.join(output, "metrics.jsonl")) else None
    shutil.copy(os.path.join(reference, "metrics.jsonl"), os.path.join(output, "metrics.jsonl"))
    log = run(["train", path], os.path.join(ROOT, "damaged-auto.log"))
    check("skipping checkpoint '%s'" % os.path.join(checkpoints, "step-9") in log, "step-9 (no DONE) was not skipped")
    check("skipping checkpoint '%s'" % newest in log, "the damaged step-8 was not skipped")
    check("resumed from %s at step 6" % previous in log, "resume=auto did not take step-6:\n%s" % log[-3000:])
    check(not os.path.exists(os.path.join(checkpoints, ".step-10.partial")), "the leftover .partial folder remains")
    assert_same_run(reference, output)


if __name__ == "__main__":
    convert()
    main([uninterrupted, test_kill_at_a_random_step_then_resume_is_bitwise_identical,
          test_sigusr1_and_sigterm_save_exit_zero_and_resume, test_damaged_checkpoints_are_never_resumed_from])
