def wordy(output, case):
    return 'yes'
