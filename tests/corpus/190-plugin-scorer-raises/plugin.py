def explode(output, case):
    raise ValueError('boom-from-scorer')
