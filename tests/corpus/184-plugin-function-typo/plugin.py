def short(output, case):
    return 1.0
