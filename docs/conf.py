"""Sphinx configuration for the skae documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "skae"
author = "the skae developers"
copyright = "2026, the skae developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Document what skae adds, not the scikit-learn machinery every estimator inherits.
autodoc_default_options = {
    "members": True,
    "inherited-members": (
        "BaseEstimator,TransformerMixin,ClassifierMixin,ClassNamePrefixFeaturesOutMixin,"
        "_SetOutputMixin,_MetadataRequester,object"
    ),
    # Metadata-routing setters that scikit-learn generates on every estimator.
    "exclude-members": (
        "set_fit_request,set_partial_fit_request,set_score_request,"
        "set_transform_request,set_inverse_transform_request"
    ),
}
templates_path = ["_templates"]
intersphinx_mapping = {}
exclude_patterns = ["_build", "generated/*.examples"]
html_theme = "alabaster"
nitpicky = False
