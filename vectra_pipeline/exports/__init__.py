"""Exports of a dataset version: numpy transitions, a Gymnasium replay environment, Minari datasets."""
