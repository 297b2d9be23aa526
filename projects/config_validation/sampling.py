"""Deterministic sampling of large datasets for the checks that read files."""

# Files whose header (image size) is read; label maps are decoded in full.
HEADER_SAMPLE = 500
DECODE_SAMPLE = 100


def evenly_spaced(items, limit):
    """Up to ``limit`` of ``items``, evenly spaced, and how they were chosen.

    Returns:
        tuple[list, str]: the chosen items and a note for messages, e.g.
        ``'checked 100 of 2000 (every 20th)'`` ('' when all are checked).
    """
    items = list(items)
    if len(items) <= limit:
        return items, ''
    step = len(items) / limit
    chosen = [items[int(i * step)] for i in range(limit)]
    return chosen, (f'read {limit} of {len(items)} files, evenly spaced '
                    f'(about every {len(items) / limit:.0f}th)')
