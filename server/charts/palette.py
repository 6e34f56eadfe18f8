"""One colour-blind-safe palette (Okabe & Ito), used the same way on every chart."""

from __future__ import annotations

# each modality keeps its colour and dash on every chart, so a reader learns it once
MODALITY_COLOURS = {"ims": "#0072B2", "dry_needling": "#E69F00", "acupuncture": "#009E73"}
MODALITY_DASHES = {"ims": "solid", "dry_needling": "dash", "acupuncture": "dot"}
MODALITY_LABELS = {"ims": "IMS", "dry_needling": "Dry needling", "acupuncture": "Acupuncture"}
MEASURE_COLOURS = {"soreness": "#D55E00", "pain": "#CC79A7", "mobility": "#56B4E9"}
# further series (clinicians, clinics, other items) take these in order
EXTRA_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def band(hex_colour: str, alpha: float = 0.18) -> str:
    """The colour as a translucent rgba() fill for a confidence band."""
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"
