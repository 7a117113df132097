// Builds src/privacy/detectors/person-names-data.ts (see bench/corpus/PROVENANCE.md). Not part of
// the build or the tests: run it by hand with the three sources unpacked.
//   node bench/corpus/build-person-names.mjs <faker package dir> <humannames list.txt> <american-english>
import { readFileSync, writeFileSync } from 'node:fs';

const [fakerDir, humannames, dictFile] = process.argv.slice(2);
const F = await import(`${fakerDir}/dist/index.js`);
const LOCALES =
  'en de fr es it pt_BR pt_PT nl pl cs_CZ sv nb_NO da fi hu tr ru uk ro hr sk lv el en_IN vi id_ID zh_CN ja ko ar he fa en_AU es_MX de_AT de_CH nl_BE fr_BE en_ZA af_ZA zu_ZA yo_NG en_NG en_GH ne ur uz_UZ_latin az ka_GE hy th mk sr_RS_latin'.split(
    ' ',
  );
// Common English words and titles that some lists hold as names: never a name on their own.
const STOP = new Set(
  'a an and are as at be by for from in into is it of on or the to with al ben bin da de del della der di do dos du el la las le les lo los van von ver den ten ter st saint sir lady lord queen king prince princess duke mr mrs ms miss dr doctor uncle aunt chef captain major general love rock blue music will may new old york street road avenue hall room living camera hope young little white black gray grey red gold silver summer winter spring autumn fall day night live band best hits disc vol volume part heart time man woman boy girl baby home house world city sun moon star fire water river field wood woods stone hill hills price page index photo image logo about contact main test sales manager ocean amazon google apple america europe asia africa australia paris london berlin rome vienna sydney update firmware plug bulb lock scale outdoor indoor mini smart color error timeout connected ok fail success pro free light dark sweet honey sugar candy cherry olive ginger pepper basil sage lily iris daisy violet ruby pearl jade amber crystal diamond angel faith joy glory harmony melody victory justice honor noble royal sterling long short strong bright wise rich sharp swift spark storm rain snow frost cloud wind lake'.split(
    ' ',
  ),
);
const fold = (s) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
const isName = (s) => /^\p{L}[\p{L}'’-]*\p{L}$/u.test(s);
const grab = (x) =>
  !x
    ? []
    : Array.isArray(x)
      ? x.flatMap(grab)
      : typeof x === 'string'
        ? [x]
        : typeof x === 'object'
          ? Object.values(x).flatMap(grab)
          : [];
const given = new Set();
const family = new Set();
for (const l of LOCALES) {
  const p = F.allLocales?.[l]?.person;
  if (!p) continue;
  for (const n of grab(p.first_name)) if (isName(n)) given.add(fold(n));
  for (const n of grab(p.last_name)) if (isName(n)) family.add(fold(n));
}
// Family names the English dictionary knows as proper nouns and humannames lists as names.
const dict = readFileSync(dictFile, 'utf8').split('\n');
const proper = new Set(dict.filter((w) => /^[A-Z][a-z]/.test(w)).map((w) => w.replace(/'s$/, '')));
for (const n of readFileSync(humannames, 'utf8').split(/\r?\n/)) {
  const w = n.trim();
  if (/^\p{Lu}\p{Ll}+$/u.test(w) && w.length >= 3 && proper.has(w)) family.add(fold(w));
}
const list = (s) => [...s].filter((w) => w.length >= 2 && !STOP.has(w)).sort();
const g = list(given);
const f = list(family);
const header = `// Generated data: given names and family names, lower-cased, accents removed, one space between.
// Sources: the person name lists of @faker-js/faker 10.6.0 (MIT), family names of humannames 1.0.5
// (MIT) that the English dictionary of Debian's wamerican lists as proper nouns; common English
// words left out. See bench/corpus/PROVENANCE.md; regenerate with build-person-names.mjs there.
`;
const q = (a) => `'${a.join(' ').replace(/'/g, "\\'")}'`;
writeFileSync(
  new URL('../../src/privacy/detectors/person-names-data.ts', import.meta.url),
  `${header}export const GIVEN_NAMES =\n  ${q(g)};\n\nexport const FAMILY_NAMES =\n  ${q(f)};\n`,
);
process.stdout.write(`${g.length} given, ${f.length} family\n`);
