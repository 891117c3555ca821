"""Sphinx configuration for the skae documentation."""

import os
import re
import sys

# The gallery runs its examples inside the build: no window may open.
os.environ["MPLBACKEND"] = "agg"

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The API page is written from the package's export lists, before Sphinx
# (and autosummary) read the sources.
import api_page  # noqa: E402

api_page.write()

project = "skae"
author = "the skae developers"
copyright = "2026, the skae developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# numpydoc checks every docstring it renders and reports a failure as a
# warning, so `sphinx -W` fails on it. All its checks run but five, among
# them: every parameter documented (PR01), none unknown, such as a
# "**other parameters" entry (PR02), in the signature's order (PR03), each
# with a type (PR04 to PR06, PR10) and a described sentence (PR07 to PR09);
# returns present and described (RT01, RT03 to RT05); a docstring on every
# public object (GL08); known sections in numpydoc's order (GL06, GL07); a
# one-line summary sentence (SS01 to SS06). Left out, as scikit-learn does:
# GL01 (summaries start on the line of the opening quotes), RT02 (return
# values are named, ``X_new : ndarray``), ES01, SA01 and EX01 (a method needs
# no extended summary, See Also or Examples). numpydoc does not check
# Attributes sections: tests/test_docstrings.py compares them with what a fit
# sets, and runs these same checks in the test suite.
numpydoc_validation_checks = {"all", "GL01", "ES01", "SA01", "EX01", "RT02"}

# Every public method is documented, the inherited ones users call too
# (fit_transform, get_feature_names_out, set_output, get_params...); what
# every Python exception has is left out of the exceptions' pages.
autodoc_default_options = {
    "members": True,
    "inherited-members": "BaseException,object",
    # Metadata-routing setters that scikit-learn generates on every estimator.
    "exclude-members": (
        "set_fit_request,set_partial_fit_request,set_score_request,"
        "set_transform_request,set_inverse_transform_request"
    ),
}
templates_path = ["_templates"]
intersphinx_mapping = {}
# examples/ holds the gallery's sources; sphinx-gallery writes the pages.
exclude_patterns = ["_build", "generated/*.examples", "examples"]
html_theme = "alabaster"
# Wide enough, with a smaller code font, that code lines of up to about 95
# characters (the examples' and guides') show without a sideways scroll bar.
html_theme_options = {"page_width": "1140px", "code_font_size": "0.8em"}
nitpicky = False

# The gallery: every script in examples/ runs at build time and its figures
# land in auto_examples/. Agg keeps the build headless; the matplotlib
# scraper collects every figure a script leaves open.
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib", "seaborn"),
    # API pages list the examples that use an object via ``.. minigallery::``.
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("skae",),
    "show_memory": False,
    "remove_config_comments": True,
    # The numbered examples run from PCA to the deep families, in order.
    "within_subsection_order": "FileNameSortKey",
    # A failing example fails the build (with -W as well as without).
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "min_reported_time": 0,
}


# Methods inherited from scikit-learn (set_output, score...) bring their
# docstrings' references into scikit-learn's own documentation, which an
# offline build has no inventory for: they become links to its pages, or
# plain text for a label not listed here. skae's own references are left
# alone, so a broken one still fails the build.
SKLEARN_PAGES = {
    "metadata_routing": ("metadata_routing.html", "Metadata Routing"),
    "df_output_transform": ("modules/df_output_transform.html", "set_output API"),
    "sphx_glr_auto_examples_miscellaneous_plot_set_output.py": (
        "auto_examples/miscellaneous/plot_set_output.html",
        "Introducing the set_output API",
    ),
    "accuracy_score": ("modules/generated/sklearn.metrics.accuracy_score.html", "accuracy"),
}
SKLEARN_DOCS = "https://scikit-learn.org/stable/"
_REF = re.compile(r":ref:`(?:([^`<]*?)\s*<([^`>]+)>|([^`<]+))`")


def link_sklearn_references(app, what, name, obj, options, lines):
    """Turn scikit-learn's ``:ref:`` roles in inherited docstrings into links."""
    if getattr(obj, "__module__", "skae").split(".")[0] != "sklearn":
        return

    def replace(match):
        label = match.group(2) or match.group(3)
        page, title = SKLEARN_PAGES.get(label, (None, label))
        text = match.group(1) or title
        return f"`{text} <{SKLEARN_DOCS}{page}>`__" if page else text

    lines[:] = [_REF.sub(replace, line) for line in lines]


def setup(app):
    # Before numpydoc (priority 500) parses the docstring.
    app.connect("autodoc-process-docstring", link_sklearn_references, priority=400)
