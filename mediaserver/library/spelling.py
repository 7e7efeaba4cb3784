"""British and American spellings of one word, so that "colour" finds "Color".

A search asks for every spelling of each typed word (query expansion); stored titles are
never rewritten.  Two kinds of rule:

- **Pairs** of word beginnings, both ways, for words where a general rule would turn
  common words into other real ones ("-our" → "-or" would make "four" match "for"):
  colour/color, theatre/theater, grey/gray, centre/center, defence/defense,
  catalogue/catalog, travelling/traveling ...  A pair matches the start of a word, so
  "colours" finds "colors" and "theatres" finds "theaters".
- **Endings** that are safe in general, as an extra spelling that is simply not found
  when it is no word: -ise/-ize (organise, realise; also -ised, -ising, -isation),
  -yse/-yze (analyse), and a doubled l before -ed, -ing, -er (cancelled, modelling).

Words shorter than four letters are left alone.
"""

from __future__ import annotations

import re

__all__ = ["PAIRS", "spellings"]

# (British, American) word beginnings.  Keep them specific: each must only begin words
# that mean the same thing in both spellings.
PAIRS: tuple[tuple[str, str], ...] = (
    # -our / -or
    ("ardour", "ardor"),
    ("armour", "armor"),
    ("behaviour", "behavior"),
    ("candour", "candor"),
    ("clamour", "clamor"),
    ("colour", "color"),
    ("endeavour", "endeavor"),
    ("favour", "favor"),
    ("flavour", "flavor"),
    ("glamour", "glamor"),
    ("harbour", "harbor"),
    ("honour", "honor"),
    ("humour", "humor"),
    ("labour", "labor"),
    ("neighbour", "neighbor"),
    ("odour", "odor"),
    ("parlour", "parlor"),
    ("rigour", "rigor"),
    ("rumour", "rumor"),
    ("saviour", "savior"),
    ("splendour", "splendor"),
    ("tumour", "tumor"),
    ("valour", "valor"),
    ("vapour", "vapor"),
    ("vigour", "vigor"),
    # -re / -er
    ("calibre", "caliber"),
    ("centre", "center"),
    ("fibre", "fiber"),
    ("goitre", "goiter"),
    ("litre", "liter"),
    ("lustre", "luster"),
    ("manoeuvre", "maneuver"),
    ("meagre", "meager"),
    ("metre", "meter"),
    ("mitre", "miter"),
    ("sabre", "saber"),
    ("sceptre", "scepter"),
    ("sombre", "somber"),
    ("spectre", "specter"),
    ("theatre", "theater"),
    # -ence / -ense
    ("defence", "defense"),
    ("licence", "license"),
    ("offence", "offense"),
    ("pretence", "pretense"),
    # -ogue / -og
    ("analogue", "analog"),
    ("catalogue", "catalog"),
    ("dialogue", "dialog"),
    ("monologue", "monolog"),
    ("prologue", "prolog"),
    ("epilogue", "epilog"),
    ("travelogue", "travelog"),
    # ae, oe
    ("archaeolog", "archeolog"),
    ("encyclopaedia", "encyclopedia"),
    ("foetus", "fetus"),
    ("mediaeval", "medieval"),
    ("paediatric", "pediatric"),
    # single words
    ("aeroplane", "airplane"),
    ("aluminium", "aluminum"),
    ("artefact", "artifact"),
    ("cheque", "check"),
    ("cosy", "cozy"),
    ("doughnut", "donut"),
    ("draught", "draft"),
    ("grey", "gray"),
    ("jewellery", "jewelry"),
    ("judgement", "judgment"),
    ("kerb", "curb"),
    ("mould", "mold"),
    ("moustache", "mustache"),
    ("plough", "plow"),
    ("programme", "program"),
    ("pyjama", "pajama"),
    ("sceptic", "skeptic"),
    ("storey", "story"),
    ("sulphur", "sulfur"),
    ("tyre", "tire"),
    ("yoghurt", "yogurt"),
)
_BY_START: dict[str, list[str]] = {}
for _uk, _us in PAIRS:
    _BY_START.setdefault(_uk, []).append(_us)
    _BY_START.setdefault(_us, []).append(_uk)
_STARTS = sorted(_BY_START, key=len, reverse=True)

# Endings: each pattern (with the stem in group 1) and its other spelling.
_ENDINGS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), other)
    for pattern, other in (
        (r"^(\w{3,})is(e|es|ed|ing|ation|ations)$", r"\1iz\2"),
        (r"^(\w{3,})iz(e|es|ed|ing|ation|ations)$", r"\1is\2"),
        (r"^(\w{2,})ys(e|es|ed|ing)$", r"\1yz\2"),
        (r"^(\w{2,})yz(e|es|ed|ing)$", r"\1ys\2"),
        (r"^(\w{2,}[aeiou])ll(ed|ing|er|ers)$", r"\1l\2"),
        (r"^(\w{2,}[aeiou])l(ed|ing|er|ers)$", r"\1ll\2"),
    )
)


def spellings(word: str) -> list[str]:
    """``word`` (lower case, without accents) and its other spellings, ``word`` first."""
    found = [word]
    if len(word) < 4:
        return found
    for start in _STARTS:
        if word.startswith(start):
            found += [other + word[len(start) :] for other in _BY_START[start]]
            break
    for pattern, other in _ENDINGS:
        if pattern.match(word):
            found.append(pattern.sub(other, word))
    return list(dict.fromkeys(found))
