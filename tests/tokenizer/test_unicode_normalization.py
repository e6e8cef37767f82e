#!/usr/bin/python3
"""NFC and NFD of data/tokenizer/unicode.cpp against Python's unicodedata (same Unicode version, 14.0 on
Debian 12): every assigned code point in runs of 32, and pseudo-random strings of letters, combining marks
(which must be reordered and composed) and Hangul jamo (composed by arithmetic)."""
import json
import os
import random
import unicodedata

from tokenizer_testlib import PROBE, die, require_probe, run_json, scratch, write_texts


def texts():
    points = [cp for cp in range(0x110000)
              if not 0xD800 <= cp <= 0xDFFF and unicodedata.category(chr(cp)) not in ("Cn", "Co", "Cs")]
    out = ["".join(chr(cp) for cp in points[i:i + 32]) for i in range(0, len(points), 32)]
    marks = [chr(cp) for cp in range(0x300, 0x370)] + ["\u0591", "\u05b0", "\u093c", "\u094d", "\u3099", "\u309a",
                                                        "\U0001d165", "\U0001d16d"]
    bases = list("aeiouAEIOUnNcCsSzZ") + ["\u0391", "\u03b1", "\u0410", "\u0430", "\u3046", "\u30ab", "\u1100",
                                          "\u1161", "\u11a8", "\uac00", "\u0915", "\u00e9", "\u1e9b", "\u212b"]
    rng = random.Random(14)
    for _ in range(3000):
        out.append("".join(rng.choice(bases if rng.random() < 0.4 else marks) for _ in range(rng.randint(1, 12))))
    return out


def main():
    require_probe()
    work = scratch("unicode-normalization")
    cases = texts()
    in_path = os.path.join(work, "in.json")
    write_texts(in_path, cases)
    problems = []
    for form in ("nfc", "nfd"):
        out_path = os.path.join(work, form + ".json")
        run_json([PROBE, "normalize", form, in_path, out_path], "tokenizer_probe normalize " + form)
        with open(out_path, encoding="utf-8") as f:
            ours = json.load(f)["texts"]
        for text, got in zip(cases, ours):
            want = unicodedata.normalize(form.upper(), text)
            if got != want:
                problems.append("%s of %s: ours %s, unicodedata %s" % (
                    form, ascii(text[:12]), ascii(got[:16]), ascii(want[:16])))
        print("%s: %d strings compared with unicodedata %s" % (form, len(cases), unicodedata.unidata_version))
    if problems:
        for p in problems[:30]:
            print("  " + p)
        die("%d normalization differences" % len(problems))
    print("PASS")


if __name__ == "__main__":
    main()
