"""The supernet's exit heads: one per distinct head design and position."""

import collections

from keras_nachos.search.head_designs import make_head


class HeadKey(
    collections.namedtuple("HeadKey", ("position", "head_type", "width"))
):
    """A head design at an exit position: the key of a shared head.

    Attributes:
        position: Integer, the stage after which the exit reads its features.
        head_type: String, the head design's name (`register_head`).
        width: Integer, the head width.
    """

    @property
    def name(self):
        """The name of the head's layer (and of its output in
        `Supernet.call`)."""
        return f"exit{self.position}_{self.head_type}_{self.width}"


def make_shared_heads(space):
    """The supernet's heads and the head each head design uses.

    Designs that build the same head (`sdn` ignores the width, say) share
    it. The heads are made in the order of the space's exit positions, head
    types and widths (the seeded weight initialisation follows it).

    Args:
        space: The `SearchSpace`.

    Returns:
        `(heads, head_keys)`: `heads` a dict `{HeadKey: head}`, one head per
        distinct design at each exit position, keyed by the first design
        that builds it; `head_keys` a dict `{(position, head type, width):
        HeadKey}` over every head design of the space, the key of the head
        it uses.
    """
    heads, head_keys = {}, {}
    for position in space.exit_positions:
        seen = {}
        for kind in space.head_types:
            for width in space.head_widths:
                key = HeadKey(position, kind, width)
                head = make_head(kind, space.num_classes, width, False, key.name)
                signature = _head_signature(head)
                if signature not in seen:
                    seen[signature] = key
                    heads[key] = head
                head_keys[(position, kind, width)] = seen[signature]
    return heads, head_keys


def subnet_head_keys(space, head_keys, values):
    """The `HeadKey` of each early exit the candidate `values` enables, in
    order (`head_keys` as `make_shared_heads` returns it)."""
    keys = []
    for s in space.exit_positions:
        if values.get(f"exit_{s}"):
            kind = values.get(f"exit_{s}_head", space.head_types[0])
            width = values.get(f"exit_{s}_head_width", space.head_widths[0])
            keys.append(head_keys[(s, kind, width)])
    return keys


def _head_signature(head):
    config = head.get_config()
    for key in ("name", "trainable", "dtype"):
        config.pop(key, None)
    return type(head).__name__, repr(sorted(config.items()))
