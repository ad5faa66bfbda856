def always(output, case):
    return 1.0
