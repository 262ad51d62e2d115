"""The end-to-end demo: the whole pipeline on real data that ships inside installed packages."""
