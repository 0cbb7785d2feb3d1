"""Where segments are named: RFM names, descriptions, key features and the value order."""

from __future__ import annotations

import math

import numpy as np


# ---------------------------------------------------------------------------
# Naming
# ---------------------------------------------------------------------------


def _role(feature):
    name = feature.lower()
    for role in ("recency", "frequency", "monetary"):
        if role in name:
            return role
    return None


def _level(value, n_bins):
    """Centroid position in [0, 1] relative to the feature's bins."""
    return float(np.clip(value / max(n_bins - 1, 1), 0.0, 1.0))


def _score(level):
    """1..5 score, rounding half up so it does not depend on banker's rounding."""
    return int(math.floor(1 + 4 * level + 0.5))


# (rule, name) in priority order; r = R score, fm = rounded mean of F and M scores.
# The grid is the widely used R x FM map (e.g. Putler / "RFM segments"), plus Lost.
_RFM_RULES = (
    ("Champions", lambda r, fm: r == 5 and fm >= 4),
    ("Loyal", lambda r, fm: r in (3, 4) and fm >= 4),
    ("Potential Loyalist", lambda r, fm: r >= 4 and fm in (2, 3)),
    ("New", lambda r, fm: r == 5 and fm == 1),
    ("Promising", lambda r, fm: r == 4 and fm == 1),
    ("Need Attention", lambda r, fm: r == 3 and fm == 3),
    ("About to Sleep", lambda r, fm: r == 3 and fm <= 2),
    ("Can't Lose Them", lambda r, fm: r <= 2 and fm == 5),
    ("At Risk", lambda r, fm: r <= 2 and fm in (3, 4)),
    ("Lost", lambda r, fm: r == 1 and fm == 1),
    ("Hibernating", lambda r, fm: r <= 2 and fm <= 2),
)


def rfm_segment_name(r_score, fm_score):
    """Classic RFM segment name for an R score and an FM score (both 1..5).

    See the table in docs/MODEL.md; every (r, fm) pair in 1..5 x 1..5 maps to
    exactly one name.
    """
    r, fm = int(r_score), int(fm_score)
    if not (1 <= r <= 5 and 1 <= fm <= 5):
        raise ValueError(f"scores must be integers in 1..5, got r={r_score!r}, fm={fm_score!r}")
    for name, rule in _RFM_RULES:
        if rule(r, fm):
            return name
    raise AssertionError("unreachable: the RFM rules cover the whole 5x5 grid")


def _rfm_scores(centroid_row, features, n_bins_per_feature):
    scores = {}
    for value, feature, nb in zip(centroid_row, features, n_bins_per_feature):
        role = _role(feature)
        if role is None or role in scores:
            continue
        level = _level(value, nb)
        scores[role] = _score(1 - level if role == "recency" else level)
    return scores


_WORDS = {
    "recency": ("has not bought for a long time", "bought a while ago", "bought recently"),
    "frequency": ("buys rarely", "buys occasionally", "buys often"),
    "monetary": ("spends little", "spends a moderate amount", "spends a lot"),
}


def _human(feature, labels=None):
    """How people call a feature: its label (the source spelling), else the name in words."""
    if labels and feature in labels:
        return labels[feature]
    name = feature[3:] if feature.startswith("is_") else feature
    return name.replace("_", " ")


def _band(level):
    # Thirds of the bin range: low / middle / high.
    return 0 if level < 1 / 3 else (2 if level > 2 / 3 else 1)


def _phrase(feature, level, labels=None):
    """The words for one feature at a centroid level, e.g. "bought recently"."""
    role = _role(feature)
    if role == "recency":
        return _WORDS[role][_band(1 - level)]
    if role is not None:
        return _WORDS[role][_band(level)]
    if feature.startswith("is_"):
        return ("few ", "some ", "mostly ")[_band(level)] + _human(feature, labels)
    band = _band(level)
    if feature in _ADJECTIVES and band != 1 and not (labels and feature in labels):
        return _ADJECTIVES[feature][band // 2]
    return ("low ", "medium ", "high ")[band] + _human(feature, labels)


# A centroid this close to the average customer (in bin-range units) says nothing.
_KEY_MIN_GAP = 0.1


def _key_features(row, features, n_bins, overall=None, labels=None, n_features=3):
    """The (up to ``n_features``) features that set a centroid apart, in feature order.

    Returns a list of ``(feature index, phrase)``; "apart" is the distance of the
    centroid's level from the average customer's (``overall``, in bins; the middle
    of the bins when not given).
    """
    levels = [_level(v, nb) for v, nb in zip(row, n_bins)]
    middle = ([0.5] * len(levels) if overall is None
              else [_level(v, nb) for v, nb in zip(overall, n_bins)])
    gaps = [abs(a - b) for a, b in zip(levels, middle)]
    order = sorted(range(len(features)), key=lambda i: (-round(gaps[i], 9), i))
    # Chosen by distance, told in feature order, so cards read alike.
    chosen = sorted(i for i in order[:n_features] if gaps[i] >= _KEY_MIN_GAP)
    return [(i, _phrase(features[i], levels[i], labels)) for i in chosen]


def describe_segment(centroid_row, features, n_bins_per_feature, *, overall=None, labels=None,
                     n_features=3):
    """Plain-words description of what sets a centroid apart, e.g. "bought recently, spends a lot".

    Parameters
    ----------
    centroid_row : array-like of shape (d,)
        Centroid in binned space (bin index units).
    features : sequence of str of length d
    n_bins_per_feature : sequence of int of length d
        Number of bins each feature really has (2 for one-hot columns).
    overall : array-like of shape (d,) or None, default=None
        The average customer in binned space; ``None``: the middle of each feature's bins.
    labels : dict of str -> str or None, default=None
        How people call a feature (the source column as written); default: the
        feature name with underscores as spaces.
    n_features : int, default=3
        At most this many clauses.

    Returns
    -------
    str
        One clause per feature that sets the segment apart (the furthest from
        ``overall``, at least 0.1 of the bin range away; in feature order). RFM features
        get fixed wording (recency is inverted: a low bin means "bought
        recently"); other features read "low/medium/high <label>"; one-hot
        columns read "mostly/some/few <label>". "close to the average customer"
        when no feature stands out.
    """
    row = np.asarray(centroid_row, dtype=float).ravel()
    if not (len(row) == len(features) == len(n_bins_per_feature)):
        raise ValueError(
            f"centroid_row, features and n_bins_per_feature must have equal length, got "
            f"{len(row)}, {len(features)} and {len(n_bins_per_feature)}"
        )
    parts = _key_features(row, features, n_bins_per_feature, overall, labels, n_features)
    return ", ".join(p for _, p in parts) or "close to the average customer"


# Adjectives for common demographic features (low, high); others read "low x"/"high x".
_ADJECTIVES = {"age": ("younger", "older"), "tenure_days": ("newer", "long-standing")}


def _descriptive_name(row, features, n_bins, overall=None, labels=None):
    levels = np.array([_level(v, nb) for v, nb in zip(row, n_bins)])
    middle = (np.full(len(levels), 0.5) if overall is None
              else np.array([_level(v, nb) for v, nb in zip(overall, n_bins)]))
    # The two features furthest from the average customer that are high or low.
    order = sorted(range(len(features)), key=lambda i: (-round(abs(levels[i] - middle[i]), 9), i))
    words = []
    for i in order:
        band = _band(levels[i])
        if band == 1 or len(words) == 2:
            continue
        f = features[i]
        if f.startswith("is_"):
            words.append(("mostly not " if band == 0 else "mostly ") + _human(f, labels))
        elif f in _ADJECTIVES and not (labels and f in labels):
            words.append(_ADJECTIVES[f][band // 2])
        else:
            words.append(("low " if band == 0 else "high ") + _human(f, labels))
    if not words:
        return "Average"
    text = ", ".join(words)
    return text[0].upper() + text[1:]


# Words for "lower" / "higher" on a feature, used to tell apart segments that
# share a name (comparisons within the group, not absolute levels).
_COMPARE = {
    "recency": ("bought more recently", "bought longer ago"),
    "frequency": ("buys less often", "buys more often"),
    "monetary": ("spends less", "spends more"),
}


def _compare_words(feature, labels=None):
    role = _role(feature)
    if role is not None:
        return _COMPARE[role]
    label = _human(feature, labels)
    if feature.startswith("is_"):
        return (f"fewer {label}", f"more {label}")
    if feature in _ADJECTIVES and not (labels and feature in labels):
        return {"age": ("younger", "older"), "tenure_days": ("newer", "longer-standing")}[feature]
    return (f"lower {label}", f"higher {label}")


def _qualifiers(members, levels, features, labels, used=()):
    """Words that tell apart the segments ``members`` (indexes) sharing one name.

    The group is split on the feature whose centroid levels differ most within
    it (ties: the earlier feature), at the middle of that range: one side gets
    the "lower" word, the other the "higher" word. A side that still holds
    several segments is split again on the next feature. Returns one list of
    words per member.
    """
    result = {i: [] for i in members}
    if len(members) < 2:
        return result
    free = [j for j in range(len(features)) if j not in used]
    spans = [(round(float(np.ptp(levels[members, j])), 9), j) for j in free]
    spans = [(span, j) for span, j in spans if span > 0]
    if not spans:
        # Identical centroids (only possible for degenerate fits): letters, not numbers.
        for n, i in enumerate(members):
            result[i].append(f"variant {chr(ord('A') + n % 26)}")
        return result
    span, j = min(spans, key=lambda t: (-t[0], t[1]))
    middle = levels[members, j].min() + span / 2
    low_word, high_word = _compare_words(features[j], labels)
    sides = ([i for i in members if levels[i, j] <= middle],
             [i for i in members if levels[i, j] > middle])
    for side, word in zip(sides, (low_word, high_word)):
        deeper = _qualifiers(side, levels, features, labels, (*used, j))
        for i in side:
            result[i] = [word] + deeper[i]
    return result


def _segment_names(centroids, features, n_bins, overall=None, labels=None):
    """One distinct, deterministic name per centroid (see docs/MODEL.md, "Names")."""
    roles = {_role(f) for f in features}
    use_rfm = "recency" in roles and ("frequency" in roles or "monetary" in roles)
    names = []
    for row in centroids:
        if use_rfm:
            s = _rfm_scores(row, features, n_bins)
            fm_parts = [s[r] for r in ("frequency", "monetary") if r in s]
            fm = int(math.floor(sum(fm_parts) / len(fm_parts) + 0.5))
            names.append(rfm_segment_name(s["recency"], fm))
        else:
            names.append(_descriptive_name(row, features, n_bins, overall, labels))
    return _distinct_names(names, centroids, features, n_bins, labels)


def _distinct_names(names, centroids, features, n_bins, labels=None):
    """Segments sharing a name get what separates them: "At Risk · spends more"."""
    levels = np.array([[_level(v, nb) for v, nb in zip(row, n_bins)] for row in centroids])
    unique = list(names)
    for name in dict.fromkeys(names):
        members = [i for i, n in enumerate(names) if n == name]
        if len(members) > 1:
            for i, words in _qualifiers(members, levels, features, labels).items():
                unique[i] = f"{name} · {', '.join(words)}"
    return unique


def centroid_scores(centroid_row, features, n_bins_per_feature, levels):
    """R, F and M scores (1..levels) of a centroid: its position in each feature's bins
    on the score scale, rounded half up (recency inverted: recent scores high). A
    vocabulary's scores are quantile cuts, as the bins are."""
    scores = {}
    for value, feature, nb in zip(centroid_row, features, n_bins_per_feature):
        role = _role(feature)
        if role is None or role in scores:
            continue
        level = _level(value, nb)
        level = 1 - level if role == "recency" else level
        scores[role] = int(math.floor(1 + (levels - 1) * level + 0.5))
    return scores


def vocabulary_names(centroids, features, n_bins, groups="shopify", levels=None, labels=None):
    """Each segment named after the RFM group of its centroid's scores
    (``[naming] vocabulary = "scores"``), distinct as :func:`_segment_names` makes them.

    Parameters
    ----------
    groups, levels
        As ``[scores]``: "shopify", "klaviyo" or the user's groups (name -> condition).

    Raises
    ------
    ValueError
        The clustered features have no recency, or neither frequency nor
        monetary: a score group needs all three (one of F and M stands in for
        the other).
    """
    from segkit.scores import group_of, resolve

    levels, _ = resolve(groups, levels)
    roles = {_role(f) for f in features}
    if "recency" not in roles or not roles & {"frequency", "monetary"}:
        raise ValueError(f"segments are named after RFM groups only when the clustered "
                         f"features include recency and frequency or monetary; they are "
                         f"{', '.join(features)}")
    names = []
    for row in centroids:
        s = centroid_scores(row, features, n_bins, levels)
        f = s.get("frequency", s.get("monetary"))
        m = s.get("monetary", f)
        names.append(group_of(s["recency"], f, m, groups, levels))
    return _distinct_names(names, centroids, features, n_bins, labels)


def _carry_names(names, kept, centroids, features, n_bins, labels=None):
    """Names after segments that kept their id took back their previous names.

    ``kept`` maps a segment index to its previous name. A segment named afresh
    whose name is now taken gets what separates it from the namesake(s), as in
    :func:`_segment_names`.
    """
    result = list(names)
    for i, name in kept.items():
        result[i] = name
    levels = np.array([[_level(v, nb) for v, nb in zip(row, n_bins)] for row in centroids])
    for i in range(len(result)):
        if i in kept:
            continue
        twins = [j for j in range(len(result)) if result[j] == result[i]]
        if len(twins) < 2:
            continue
        words = _qualifiers(twins, levels, features, labels)[i]
        joiner = ", " if " · " in result[i] else " · "
        candidate = result[i] + joiner + ", ".join(words)
        letter = 0
        while candidate in result:  # only identical centroids can get here
            candidate = f"{result[i]} · variant {chr(ord('A') + letter % 26)}"
            letter += 1
        result[i] = candidate
    return result


def _value_scores(centroids, features, n_bins, onehot):
    """Higher = more valuable customers. Recency is inverted (recent = valuable)."""
    cols = [i for i, f in enumerate(features) if f not in onehot] or list(range(len(features)))
    levels = np.column_stack(
        [
            (1 - centroids[:, i] / max(n_bins[i] - 1, 1))
            if _role(features[i]) == "recency"
            else centroids[:, i] / max(n_bins[i] - 1, 1)
            for i in cols
        ]
    )
    # Rounded so float noise in the last bits cannot reorder segments.
    return np.round(levels.mean(axis=1), 9)


def canonical_order(centers, features, n_bins, onehot):
    """Segment order: most valuable first; ties by centroid coordinates."""
    value = _value_scores(centers, features, n_bins, set(onehot))
    return np.lexsort(tuple(centers[:, j] for j in range(centers.shape[1] - 1, -1, -1)) + (-value,))


def segment_words(centroids, features, n_bins, overall, labels):
    """Names, key features and descriptions of the segments, against the average customer."""
    names = _segment_names(centroids, features, n_bins, overall, labels)
    key_features = [
        [(features[j], phrase) for j, phrase in _key_features(c, features, n_bins, overall, labels)]
        for c in centroids]
    descriptions = [", ".join(p for _, p in key) or "close to the average customer"
                    for key in key_features]
    return names, key_features, descriptions
