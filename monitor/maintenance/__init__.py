"""Maintenance windows: when a window is on (windows) and which cameras one
covers now (current).
"""
