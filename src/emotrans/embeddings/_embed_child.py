"""Entry point of the child process that embeds names for
:meth:`emotrans.embeddings.sentence.SentenceSource.embed_isolated`."""

import sys

from emotrans.embeddings.sentence import child_main

if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
