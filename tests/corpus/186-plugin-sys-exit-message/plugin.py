import sys

sys.exit('plugin says bye')
