"""The ``infovaegan`` command line (installed as ``infovaegan_plugin.cli``)."""
