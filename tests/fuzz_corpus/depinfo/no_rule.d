# env-dep:ONLY_ENV=1

