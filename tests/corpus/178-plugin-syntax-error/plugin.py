from harness import scorer

def broken(:
    pass
