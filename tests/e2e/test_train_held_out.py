"""End to end on the tiny Qwen2.5-VL: training improves the student on records it never saw (data.held_out).

  distillation (train.loss.activation = 1, local mode): every layer's held-out activation error
      ||o_S - o_T||^2 / ||o_T||^2 falls below the converted-but-untrained student's
  CE only (train.loss.activation = 0, ce = 1): the student's held-out next-token CE falls below the untrained one's

Measured with tests/helpers/held_out_losses (trainer/losses.h evaluate_losses over the held-out stream) on the
converted folder and on each trained folder: the untrained student is the reference."""
import os

from e2e_support import check, held_out, main, make_fixture, run, scratch, write_recipe

ROOT = scratch("train_held_out")
MODEL, DATA = make_fixture(ROOT)
CONVERTED = os.path.join(ROOT, "converted")


def train(name, **train_keys):
    output = os.path.join(ROOT, name)
    keys = {"steps": 12, "init_from": CONVERTED, "optimizer": {"lr": 2e-3}}
    keys.update(train_keys)
    path = write_recipe(os.path.join(ROOT, name + ".yaml"), MODEL, DATA, output, train=keys, checkpoint={"every": 0})
    run(["train", path], os.path.join(ROOT, name + ".log"))
    return path, os.path.join(output, "trained")


def setup():
    path = write_recipe(os.path.join(ROOT, "convert.yaml"), MODEL, DATA, ROOT, convert={"output": CONVERTED})
    run(["convert", path], os.path.join(ROOT, "convert.log"))
    return path


RECIPE = None
BEFORE = None


def test_untrained_reference():
    global RECIPE, BEFORE
    RECIPE = setup()
    BEFORE = held_out(RECIPE, CONVERTED)
    check(BEFORE["batches"] >= 2 and BEFORE["tokens"] > 0, "the held-out stream is too small: %s" % BEFORE)
    check(all(e > 1e-4 for e in BEFORE["layer_activation_error"]),
          "the converted student is already exact (nothing to learn): %s" % BEFORE["layer_activation_error"])
    print("     untrained: activation error per layer %s, CE %.4f" % (BEFORE["layer_activation_error"], BEFORE["ce"]))


def test_distillation_reduces_every_layers_held_out_error():
    recipe, trained = train("distilled")
    after = held_out(recipe, trained)
    print("     distilled: activation error per layer %s" % after["layer_activation_error"])
    for layer, (a, b) in enumerate(zip(BEFORE["layer_activation_error"], after["layer_activation_error"])):
        check(b < a, "layer %d: held-out activation error %.6g after training, %.6g before" % (layer, b, a))


def test_ce_only_training_reduces_held_out_ce():
    recipe, trained = train("ce-only", loss={"activation": 0, "ce": 1})
    after = held_out(recipe, trained)
    print("     CE-only: held-out CE %.4f (before %.4f)" % (after["ce"], BEFORE["ce"]))
    check(after["ce"] < BEFORE["ce"], "held-out CE %.6g after CE training, %.6g before" % (after["ce"], BEFORE["ce"]))


if __name__ == "__main__":
    main([test_untrained_reference, test_distillation_reduces_every_layers_held_out_error,
          test_ce_only_training_reduces_held_out_ce])
