// Reference ids from Hugging Face's `tokenizers` (its Node binding of the Rust library).
//   node reference_ids.js REFERENCE_DIR TOKENIZER_JSON IN.json OUT.json
//     IN: {"texts": [...]}; OUT: {"ids", "ids_no_special", "decoded", "decoded_skip_special"} per text, where
//     decoded = decode(ids_no_special, false) and decoded_skip_special = decode(ids, true).
//   node reference_ids.js --check REFERENCE_DIR      loads the package and exits 0
'use strict';
const fs = require('fs');
const path = require('path');

function loadTokenizers(referenceDir) {
  return require(path.join(path.resolve(referenceDir), 'node_modules', 'tokenizers'));
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--check') {
    const { Tokenizer } = loadTokenizers(args[1]);
    if (typeof Tokenizer.fromFile !== 'function') throw new Error('tokenizers.Tokenizer.fromFile missing');
    return;
  }
  const [referenceDir, tokenizerJson, inPath, outPath] = args;
  const { Tokenizer } = loadTokenizers(referenceDir);
  const tokenizer = Tokenizer.fromFile(tokenizerJson);
  const texts = JSON.parse(fs.readFileSync(inPath, 'utf8')).texts;
  const out = { ids: [], ids_no_special: [], decoded: [], decoded_skip_special: [] };
  for (const text of texts) {
    const withSpecial = Array.from((await tokenizer.encode(text, null, { addSpecialTokens: true })).getIds());
    const plain = Array.from((await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds());
    out.ids.push(withSpecial);
    out.ids_no_special.push(plain);
    out.decoded.push(await tokenizer.decode(plain, false));
    out.decoded_skip_special.push(await tokenizer.decode(withSpecial, true));
  }
  fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((e) => {
  console.error(`reference_ids.js: ${e.stack || e}`);
  process.exit(1);
});
