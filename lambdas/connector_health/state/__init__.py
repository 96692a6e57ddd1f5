"""State: the DynamoDB store, the finding lifecycle and the accepted baseline."""
