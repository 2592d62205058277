"""Sphinx configuration of the provider's documentation site (built by scripts/docs.sh)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(REPO))

from airflow_provider_kling import __version__  # noqa: E402

project = "airflow-provider-kling"
author = "airflow-provider-kling contributors"
copyright = "airflow-provider-kling contributors, Apache-2.0"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "kling_provider_info",  # docs/_ext: tables generated from get_provider_info()
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]
# docs/kling-api.md quotes Kling's envelopes with "…" for elided parts: not valid JSON to Pygments.
suppress_warnings = ["misc.highlighting_failure"]

# -n (nitpicky) checks every cross-reference. Classes from other packages (Airflow, the standard
# library, pydantic) are not resolved without intersphinx, which would need the network at build
# time; names only imported for type checking show up bare. Everything of ours must resolve.
nitpick_ignore_regex = [
    ("py:.*", r"(airflow|collections\.abc|typing|types|pydantic|pydantic_core|aiohttp)\..*"),
    ("py:.*", r"(datetime|pathlib|enum)\..*"),
    ("py:.*", r"[A-Za-z_]+"),  # bare names from TYPE_CHECKING imports: Context, Asset, RetryPolicy, ...
    ("py:.*", r"airflow_provider_kling\..*\._[A-Za-z]\w*"),  # private base classes
    ("py:.*", r"airflow_provider_kling\..*\.([A-Z][a-z]*)?T"),  # TypeVars: T, ModelT
]

html_theme = "furo"
html_title = f"airflow-provider-kling {release}"
html_static_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Operator modules import the heavy libraries inside methods; autodoc imports the real modules.

# ---------------------------------------------------------------------------------------------
# PENDING_PAGES: how-to pages of operators being written on other branches. Each includes its
# sample (between `# [START <marker>]` and `# [END <marker>]`) from an example DAG that does not
# exist on this branch yet, so the page stays out of the build until it does. After merging the
# branch that adds the DAG with its markers: check that the page's `literalinclude` names that DAG
# file (the build says where the marker is), then delete the page's line here; the page joins the
# "How-to guides" toctree (a glob) by itself. While a listed marker exists in dags/, the build
# fails with a warning naming the line to delete, so none is forgotten.
# ---------------------------------------------------------------------------------------------
PENDING_PAGES: dict[str, str] = {
    # page under docs/ (.md)     : the marker its literalinclude reads
    "howto/image_to_video": "howto_operator_kling_image_to_video",
    "howto/omni_video": "howto_operator_kling_omni_video",
    "howto/motion_control": "howto_operator_kling_motion_control",
    "howto/text_to_speech": "howto_operator_kling_text_to_speech",
    "howto/lip_sync": "howto_operator_kling_lip_sync",
    "howto/avatar": "howto_operator_kling_avatar",
    "howto/image_generation": "howto_operator_kling_image_generation",
    "howto/video_effects": "howto_operator_kling_video_effects",
}
kling_pending_pages = PENDING_PAGES
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", *(f"{page}.md" for page in PENDING_PAGES)]
