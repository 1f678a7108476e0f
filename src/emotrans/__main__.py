from emotrans.cli import run

run()
