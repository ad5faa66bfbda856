import os

raise RuntimeError('plugin exploded')
