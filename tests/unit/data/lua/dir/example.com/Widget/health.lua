return {status = "Healthy", message = "from the folder"}
