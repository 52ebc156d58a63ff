"""What the prefetches of a timed generation did, and whether the design's every decision is the
golden cache's: the reference replays each batch as the layer ordered it (the slots' writes,
the prefetch requests the batch's run took, in order, each keeping the running batch's slots
once its tokens were in, then the batch's lookups, expert by expert, then the batch's end), and
every fetch request and every refusal must be the design's.

A prefetch is *useful* when the batch it was asked for (its layer's next batch) needs the
expert, *wasted* otherwise (its bytes counted), *late* when useful but its last word landed
after that batch's first token was in. Accuracy: the experts asked for that the batch needed,
over those asked for; coverage: over those it needed.
"""

from moetile.sw.golden.expert_cache import ExpertCacheModel

__all__ = ["prefetch_report"]


def _needed(record) -> set[int]:
    return {e for e, tokens in enumerate(record.expert_tokens) if tokens}


def _target(timeline, i: int, layer: int) -> int | None:
    """The batch that requests for ``layer`` made during batch ``i`` are for: batch ``i``
    itself when of that layer (asked as its attention started), else the layer's next."""
    if timeline[i].layer == layer:
        return i
    return next((j for j in range(i + 1, len(timeline)) if timeline[j].layer == layer), None)


def prefetch_report(params, records, timeline, plan, flush: bool, sizes) -> dict:
    """``records``: every simulated batch (a :class:`~moetile.sw.runtime.model.BatchRecord`),
    ``timeline`` its :class:`~moetile.app.cosim.timed.BatchTimeline`, one each, in order;
    ``plan``: the slots' configuration first written; ``sizes``: ``(layer, expert)`` → the
    bytes of its fetch."""
    model = ExpertCacheModel(params.cache)

    def configure(entries):
        for entry in entries:
            model.configure(entry["slot"], **{k: v for k, v in entry.items() if k != "slot"})

    if plan is not None:
        configure(plan.entries)
    equal = True
    fills = present = refused = 0
    lookups = hits = all_lookups = all_hits = 0
    useful = wasted_bytes = late = 0
    asked = asked_needed = needed_total = 0
    for i, (record, batch) in enumerate(zip(records, timeline, strict=True)):
        if flush:
            configure(plan.entries)
        before = len(model.fetches)
        kinds, batch_refused = [], 0
        needed = _needed(record)
        for layer, expert, stamp in batch.taken:
            # Taken before the batch's tokens were offered: nothing of it routed to keep.
            keep = set() if stamp < batch.tokens_at else model.keep(record.layer, needed)
            answer = model.prefetch(layer, expert, keep)
            batch_refused += answer.refused
            present += answer.hit
            if not (answer.hit or answer.refused):
                kinds.append(("prefetch", layer, expert))
        for e in sorted(needed):
            answer = model.lookup(record.layer, e)
            all_lookups += 1
            all_hits += answer.hit
            if record.step:
                lookups += 1
                hits += answer.hit
            if not answer.hit:
                kinds.append(("demand", record.layer, e))
        model.end_batch(record.layer)
        refused += batch_refused
        ours = [tuple(f[:3]) for f in batch.fetches]
        equal &= ours == model.fetches[before:] and record.stats.get("refused") == batch_refused
        for (kind, layer, expert), fetch in zip(kinds, batch.fetches, strict=False):
            if kind != "prefetch":
                continue
            fills += 1
            j = _target(timeline, i, layer)
            if j is not None and expert in _needed(records[j]):
                useful += 1
                late += fetch[4] > timeline[j].tokens_in
            else:
                wasted_bytes += sizes[layer, expert]
        for layer in sorted({layer for layer, _e in batch.offered}):
            j = _target(timeline, i, layer)
            mine = {e for n, e in batch.offered if n == layer}
            if j is None:
                continue
            truth = _needed(records[j])
            asked += len(mine)
            asked_needed += len(mine & truth)
            needed_total += len(truth)
    decode = [b for b in timeline if b.step]
    predictor = [b.predictor_cycles for b in decode if b.predictor_cycles]
    return {
        "equal_to_reference": equal,
        "prefetch_fills": fills,
        "already_on_chip": present,
        "refused": refused,
        "dropped": sum(len(b.dropped) for b in timeline),
        "useful": useful,
        "late": late,
        "wasted_bytes": wasted_bytes,
        "accuracy": asked_needed / asked if asked else 0.0,
        "coverage": asked_needed / needed_total if needed_total else 0.0,
        "lookups": all_lookups,
        "hits": all_hits,
        "decode_lookups": lookups,
        "decode_hits": hits,
        "decode_hit_rate": hits / lookups if lookups else 0.0,
        "attention_cycles_per_layer": sum(b.attention for b in decode) / max(1, len(decode)),
        "predictor_cycles_per_layer": sum(predictor) / len(predictor) if predictor else 0,
    }
