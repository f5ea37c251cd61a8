this is not a makefile
