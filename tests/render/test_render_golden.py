"""Golden files: one model per family with a full key layout (and modules, handsets). Review the diff.

Regenerate with `pytest tests/render --update-golden`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.catalogue import default_catalogue
from core.render import Renderer
from core.render.families import FAMILIES
from tests.render.conftest import GOLDEN_DIR, DeviceFactory

GOLDEN_MODELS = ["yealink-t46u", "yealink-w70b", "snom-d785", "snom-m700", "poly-vvx450", "grandstream-grp2614",
                 "grandstream-ht802", "gigaset-n870", "cisco-spa504g", "cisco-ata191", "fanvil-x6u",
                 "linphone-ipphone"]  # fmt: skip


def test_every_family_with_files_has_a_golden_model() -> None:
    families = {default_catalogue().get(m).family for m in GOLDEN_MODELS}  # type: ignore[union-attr]
    assert families == {f for f, spec in FAMILIES.items() if spec.files}


@pytest.mark.parametrize("model_id", GOLDEN_MODELS)
def test_golden(model_id: str, make_device: DeviceFactory, renderer: Renderer, update_golden: bool) -> None:
    model = default_catalogue().get(model_id)
    assert model is not None
    device = make_device(model_id)
    names = renderer.file_names(device)
    seen: set[bytes] = set()
    for i, name in enumerate(names):
        content = renderer.render(device, name).content
        if content in seen:
            continue  # the same content under another name the firmware may ask for
        seen.add(content)
        # The main file is <model>.<ext>; a further file with its own content is <model>--<name>.
        golden = f"{model_id}{Path(name).suffix}" if i == 0 else f"{model_id}--{name}"
        path = GOLDEN_DIR / model.family / golden
        if update_golden:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        assert path.exists(), f"missing {path}: run pytest with --update-golden and review it"
        assert content.decode() == path.read_text(encoding="utf-8"), f"{path} differs from the golden file"
