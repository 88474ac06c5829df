from vidpipe.cli import entry

entry()
