"""The order a generation is handed out in: the longest first.

With several workers a generation ends when its last trial does, so the
generation is handed out longest first (the classic LPT rule for list
scheduling): the short trials fill the workers' gaps at the barrier instead
of a long one starting last. The training cost is predicted by the
candidate's static MACs (its full network). The order does not change any
result (each candidate trains with its own seed and NSGA-II ranks the
generation as a whole).
"""


def longest_first(queued, predicted_cost, trials_left=None):
    """The queued record to hand out next.

    Args:
        queued: The generation's queued records, in bred order.
        predicted_cost: Callable `record -> float or None`, its predicted
            training cost (0 for a candidate served from the cache).
        trials_left: Optional integer, the trials the budget still allows.
            Where the budget ends inside this generation the bred order is
            kept, so a truncated generation is not biased toward large
            candidates; so it is when a cost is unknown.

    Returns:
        A record of `queued`, or None when it is empty.
    """
    if len(queued) < 2:
        return queued[0] if queued else None
    if trials_left is not None and trials_left < len(queued):
        return queued[0]
    costs = [predicted_cost(r) for r in queued]
    if any(c is None for c in costs):
        return queued[0]
    # Ties keep the bred order.
    return queued[max(range(len(queued)), key=lambda i: (costs[i], -i))]
