"""What /metrics is made of: the family table (families), the exporter that
renders it (exporter) and the monitor's own metrics (selfmetrics).
"""
