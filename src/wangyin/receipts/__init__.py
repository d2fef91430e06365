"""Electronic receipts (电子回单, issue 6 §7): every completed transfer has a reference, an
on-screen receipt, a PDF to download, and a verification code anyone can check on the
bank's public page."""
