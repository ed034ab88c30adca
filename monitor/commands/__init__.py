"""The command line (cli) and the commands that are not the daemon: probe,
importer, demo, metrics_doc.
"""
